"""fcgym.calls: every accepted form, prose, and every way model text can be unreadable or hostile."""

from __future__ import annotations

import builtins
import json
import time

import pytest

from fcgym import Call, ParseError, ParseLimits, format_calls, parse_calls, parse_tool_calls
from fcgym.calls import DEFAULT_LIMITS

# ---------------------------------------------------------------------------------------------- forms


def test_json_object():
    assert parse_calls('{"name": "f", "arguments": {"x": 1, "y": "a"}}') == [Call("f", {"x": 1, "y": "a"})]


def test_json_list_of_objects():
    text = '[{"name": "f", "arguments": {"x": 1.5}}, {"name": "g", "arguments": {}}]'
    assert parse_calls(text) == [Call("f", {"x": 1.5}), Call("g", {})]


def test_json_parameters_key_and_missing_arguments():
    assert parse_calls('{"name": "f", "parameters": {"x": [1, 2]}}') == [Call("f", {"x": [1, 2]})]
    assert parse_calls('{"name": "g"}') == [Call("g", {})]


def test_json_arguments_as_json_string():
    text = json.dumps({"name": "f", "arguments": json.dumps({"x": 1, "nested": {"k": [True, None]}})})
    assert parse_calls(text) == [Call("f", {"x": 1, "nested": {"k": [True, None]}})]
    assert parse_calls('{"name": "g", "arguments": "  "}') == [Call("g", {})]


def test_openai_tool_calls_list():
    tool_calls = [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
    ]
    expected = [Call("f", {"x": 1}), Call("g", {})]
    assert parse_tool_calls(tool_calls) == expected
    assert parse_calls(json.dumps(tool_calls)) == expected  # the same entries written as text


def test_parse_tool_calls_errors():
    with pytest.raises(ParseError):
        parse_tool_calls({"function": {"name": "f"}})  # not a list
    with pytest.raises(ParseError):
        parse_tool_calls([{"type": "function", "function": {"name": "f", "arguments": "{bad json"}}])
    with pytest.raises(ParseError):
        parse_tool_calls([{"type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}])


def test_tool_call_blocks():
    text = (
        "Let me do both.\n"
        '<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>\n'
        '<tool_call>{"name": "g", "arguments": "{\\"y\\": \\"b\\"}"}</tool_call>'
    )
    assert parse_calls(text) == [Call("f", {"x": 1}), Call("g", {"y": "b"})]


def test_unclosed_tool_call_block_is_read_to_the_end():
    assert parse_calls('<tool_call>{"name": "f", "arguments": {}}') == [Call("f", {})]


def test_broken_tool_call_block_is_an_error():
    with pytest.raises(ParseError):
        parse_calls('<tool_call>{"name": "f", "arguments": {</tool_call>')


def test_python_call_syntax():
    text = "[f(x=1, y='a', z=[1, -2.5, {'k': None}], flag=True), g()]"
    expected = [Call("f", {"x": 1, "y": "a", "z": [1, -2.5, {"k": None}], "flag": True}), Call("g", {})]
    assert parse_calls(text) == expected


def test_python_single_call_tuple_and_dotted_name():
    assert parse_calls("f(x=+3)") == [Call("f", {"x": 3})]
    assert parse_calls("f(x=1), g(y=(1, 2))") == [Call("f", {"x": 1}), Call("g", {"y": [1, 2]})]
    assert parse_calls("[math.sqrt(x=4)]") == [Call("math.sqrt", {"x": 4})]


@pytest.mark.parametrize("fence", ["```json\n{body}\n```", "```\n{body}\n```", "```python\n{body}```"])
def test_code_fences(fence):
    json_body = '[{"name": "f", "arguments": {"x": 1}}]'
    assert parse_calls(fence.format(body=json_body)) == [Call("f", {"x": 1})]
    assert parse_calls(fence.format(body="[f(x=1)]")) == [Call("f", {"x": 1})]


def test_empty_json_list_is_no_call():
    assert parse_calls("[]") == []


@pytest.mark.parametrize("prose", [
    "", "   \n", "I can't help with that: no tool fits.", "The answer is 42.", "Sure! Sending it now.",
    "Hallo, wie geht's? 你好 🙂",
])
def test_prose_returns_no_calls(prose):
    assert parse_calls(prose) == []


@pytest.mark.parametrize("prose", ["I (the assistant) cannot help with that.", "Sorry (truly), no tool fits."])
def test_prose_with_parenthesis_returns_no_calls(prose):
    assert parse_calls(prose) == []


# ------------------------------------------------------------------------------------------ errors

OVER_LONG = "x" * (DEFAULT_LIMITS.max_chars + 1)
HUGE_INT = "1" + "0" * 5000  # 10**5000 written out

ERROR_INPUTS = {
    "malformed_json": '{"name": "f", "arguments": {"x": 1',
    "trailing_garbage": '{"name": "f"} extra',
    "json_item_not_object": '["f"]',
    "missing_name": '{"arguments": {"x": 1}}',
    "empty_name": '{"name": "", "arguments": {}}',
    "name_not_string": '{"name": 3, "arguments": {}}',
    "arguments_not_object": '{"name": "f", "arguments": [1]}',
    "arguments_string_not_object": '{"name": "f", "arguments": "[1]"}',
    "arguments_string_malformed": '{"name": "f", "arguments": "{x: 1}"}',
    "deep_json_list": "[" * 100_000,
    "deep_json_object": '{"a":' * 20_000,
    "deep_arguments_string": json.dumps({"name": "f", "arguments": "[" * 10_000}),
    "deep_python": "[f(x=" + "[" * 10_000 + "])]",
    "huge_json_int": '{"name": "f", "arguments": {"x": ' + HUGE_INT + "}}",
    "huge_negative_json_int": '{"name": "f", "arguments": {"x": -' + HUGE_INT + "}}",
    "huge_python_int": "[f(x=" + HUGE_INT + ")]",
    "huge_python_hex_int": "[f(x=0x" + "f" * 50_000 + ")]",
    "json_nan": '{"name": "f", "arguments": {"x": NaN}}',
    "json_infinity": '{"name": "f", "arguments": {"x": Infinity}}',
    "json_negative_infinity": '{"name": "f", "arguments": {"x": -Infinity}}',
    "json_float_overflow": '{"name": "f", "arguments": {"x": 1e999}}',
    "python_float_overflow": "[f(x=-1e999)]",
    "null_byte": '{"name": "f", "arguments": {"x": "a"}}\x00',
    "over_long": OVER_LONG,
    "thousands_json_calls": json.dumps([{"name": "f", "arguments": {}}] * 5000),
    "thousands_python_calls": "[" + ", ".join(["f()"] * 5000) + "]",
    "thousands_tool_call_blocks": '<tool_call>{"name": "f"}</tool_call>' * 2000,
    "positional_args": "[f(1, 2)]",
    "star_args": "[f(*a)]",
    "kwargs_unpacking": "[f(**{'x': 1})]",
    "dict_unpacking_in_value": "[f(x={**a})]",
    "name_value": "[f(x=y)]",
    "true_name_is_fine_but_os_is_not": "[f(x=os)]",
    "binary_operator": "[f(x=1 + 1)]",
    "string_concatenation": "[f(x='a' * 1000000000)]",
    "comparison": "[f(x=1 < 2)]",
    "lambda": "[f(x=lambda: 1)]",
    "attribute_access": "[f(x=os.environ)]",
    "subscript": "[f(x=a[0])]",
    "f_string": "[f(x=f'{secret}')]",
    "list_comprehension": "[f(x=[i for i in range(10**9)])]",
    "generator": "[f(x=(i for i in range(3)))]",
    "call_in_argument": "[f(x=g())]",
    "import_in_argument": "[f(x=__import__('os').system('true'))]",
    "walrus": "[f(x=(y := 1))]",
    "set_literal": "[f(x={1, 2})]",
    "bytes_literal": "[f(x=b'abc')]",
    "complex_literal": "[f(x=1j)]",
    "ellipsis": "[f(x=...)]",
    "non_string_dict_key": "[f(x={1: 'a'})]",
    "not_a_call_in_list": "[f(x=1), 3]",
    "called_call": "[f()(x=1)]",
    "python_syntax_error": "[f(x=1,,)]",
    "unterminated_string": "[f(x='abc)]",
}


@pytest.mark.parametrize("text", ERROR_INPUTS.values(), ids=ERROR_INPUTS.keys())
def test_unreadable_call_attempts_raise_parse_error(text):
    with pytest.raises(ParseError):
        parse_calls(text)


@pytest.mark.parametrize("value", [None, b'{"name": "f"}', 42])
def test_non_text_input_raises_parse_error(value):
    with pytest.raises(ParseError):
        parse_calls(value)


def test_custom_limits():
    limits = ParseLimits(max_chars=100, max_depth=3, max_calls=2, max_int_digits=3)
    assert parse_calls("[f(x=999), g()]", limits) == [Call("f", {"x": 999}), Call("g", {})]
    for text in ["[f(), g(), h()]", "[f(x=1000)]", '{"name": "f", "arguments": {"x": 1000}}',
                 '{"name": "f", "arguments": {"x": [[[1]]]}}', "x" * 101]:
        with pytest.raises(ParseError):
            parse_calls(text, limits)


def test_limit_boundaries_are_inclusive():
    limits = ParseLimits(max_calls=3, max_int_digits=4)
    assert len(parse_calls("[f(), f(), f()]", limits)) == 3
    assert parse_calls('{"name": "f", "arguments": {"x": -9999}}', limits) == [Call("f", {"x": -9999})]


# Deeply nested operators stay under max_chars but blow up CPython's parser (MemoryError / RecursionError).
DEEP_OPERATOR_INPUTS = {
    "unary_minus_chain": "[f(x=" + "-" * 50_000 + "1)]",
    "not_chain": "[f(x=" + "not " * 20_000 + "1)]",
    "binary_operator_chain": "[f(x=" + "1+" * 30_000 + "1)]",
    "attribute_chain_name": "[f" + ".a" * 40_000 + "()]",
}


@pytest.mark.parametrize("text", DEEP_OPERATOR_INPUTS.values(), ids=DEEP_OPERATOR_INPUTS.keys())
def test_deep_operator_chains_raise_parse_error(text):
    with pytest.raises(ParseError):
        parse_calls(text)


def test_repeated_keyword_is_an_error():
    with pytest.raises(ParseError):
        parse_calls("[f(x=1, x=2)]")


# ---------------------------------------------------------------------------------------- safety


def test_nothing_is_executed(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"

    def forbidden(*args, **kwargs):
        raise AssertionError("the parser evaluated model text")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    attacks = [
        f"[f(x=__import__('os').system('touch {marker}'))]",
        f"f(x=__import__('os').system('touch {marker}'))",
        f"[__import__('os').system(cmd='touch {marker}')]",
        f"[f(x=(lambda: __import__('os').system('touch {marker}'))())]",
        f"[f(x=f\"{{__import__('os').system('touch {marker}')}}\")]",
        f"```python\n[f(x=open('{marker}', 'w').write('x'))]\n```",
    ]
    for text in attacks:
        with pytest.raises(ParseError):
            parse_calls(text)
    # a command inside a string literal is just a string
    calls = parse_calls(f"[f(cmd=\"__import__('os').system('touch {marker}')\")]")
    assert calls == [Call("f", {"cmd": f"__import__('os').system('touch {marker}')"})]
    assert not marker.exists()


# ----------------------------------------------------------------------------------------- speed

ADVERSARIAL_100K = {
    "open_brackets": "[" * 100_000,
    "open_braces": "{" * 100_000,
    "quotes": '"' * 100_000,
    "backslashes_in_string": '["' + "\\\\" * 49_990 + '"]',
    "unclosed_tool_calls": "<tool_call>" * 9_000,
    "many_tool_calls": '<tool_call>{"name": "f"}</tool_call>' * 2_700,
    "many_python_calls": "[" + ",".join(["f()"] * 24_000) + "]",
    "long_float": '{"name": "f", "arguments": {"x": 0.' + "1" * 99_950 + "}}",
    "hex_int": "[f(x=0x" + "f" * 99_980 + ")]",
    "long_prose": "word " * 20_000,
    "long_name": "a" * 99_990 + "()",
    "over_long": "[" * 200_000,
}


@pytest.mark.parametrize("text", ADVERSARIAL_100K.values(), ids=ADVERSARIAL_100K.keys())
def test_adversarial_input_is_fast(text):
    start = time.perf_counter()
    try:
        parse_calls(text)
    except ParseError:
        pass
    assert time.perf_counter() - start < 1.0


def test_unclosed_code_fence_is_fast():
    start = time.perf_counter()
    parse_calls("```" + " " * 25_000 + "x")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("style", ["json", "python"])
def test_formatted_calls_parse_back_to_the_same_calls(style):
    calls = [Call("book", {"city": 'Rio "de" Janeiro', "guests": 2, "late": True, "note": None,
                           "tags": ["a", 1.5], "extra": {"k": [False]}}), Call("ping", {})]
    text = format_calls(calls, style)
    assert [c.to_dict() for c in parse_calls(text)] == [c.to_dict() for c in calls]
    assert parse_calls(format_calls([], style)) == []  # no calls: an abstention in prose


def test_an_unknown_call_style_is_refused():
    with pytest.raises(ValueError, match="unknown call style"):
        format_calls([], "xml")
