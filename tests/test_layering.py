"""Dependencies point one way: agents -> envs -> fcgym; the core and the envs import no model library."""

import subprocess
import sys


def test_core_and_envs_import_neither_torch_nor_transformers_nor_agents():
    code = ("import sys, fcgym, envs, envs.tool_duel, envs.single_agent\n"
            "bad = [m for m in ('torch', 'transformers', 'agents') if m in sys.modules]\n"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
