"""The README's third-party agent example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_agent_example_plugs_in_without_touching_fcgym():
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # our own documentation, not model output
    env, observation = namespace["env"], namespace["observation"]
    assert env.observation_space.contains(observation)
    _, reward, terminated, _, info = env.step("Move $50 from checking to savings.")
    assert terminated and reward in (-1.5, -1.0, 1.0)


def test_ci_runs_the_readme_test_command():
    test_command = re.findall(r"```bash\n(.*?)\n```", README.read_text(), re.DOTALL)[1]
    assert test_command in (README.parent / ".ci" / "run").read_text()
