"""The typed errors of fcgym. Every failure caused by model output or tool code is one of these."""


class FCGymError(Exception):
    """Base class of every error fcgym raises on purpose."""


class ParseError(FCGymError):
    """Model text that tried to call a tool but could not be read as calls."""


class ToolArgumentError(FCGymError):
    """Arguments that violate a tool's JSON Schema."""


class UnknownToolError(FCGymError):
    """A call names a tool that the episode does not offer."""


class ToolExecutionError(FCGymError):
    """Tool code that raised, hung or ran out of resources."""


class ToolTimeoutError(ToolExecutionError):
    """Tool code that ran past its wall-clock timeout or its CPU-time limit (its worker was replaced)."""


class ToolCrashedError(ToolExecutionError):
    """Tool code that killed its worker process (a signal such as SIGSEGV, or an exit); the worker was replaced."""


class ToolMemoryError(ToolExecutionError):
    """Tool code that ran out of its address-space limit (its worker was replaced)."""
