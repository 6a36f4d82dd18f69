"""Where test_compose.py (and the stack tests being written beside it) find the Postfix
harness until they move into a folder of their own: it lives in support/postfix_harness.py."""

from support.postfix_harness import *  # noqa: F403
from support.postfix_harness import REPO  # noqa: F401
