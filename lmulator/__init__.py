"""lmulator: run Python statement by statement; a language model emulates what cannot run."""

from .config import Config
from .engine.session import RunResult, Session
from .isolation.session import IsolatedSession
from .policy.policy import Policy
from .reason import reason

__all__ = ["Config", "IsolatedSession", "Policy", "RunResult", "Session", "reason"]
__version__ = "0.1.0"  # the project's one version (pyproject.toml and cockernel read it)
