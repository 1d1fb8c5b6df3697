"""Broken: calls sys.exit(3) while being imported, as a plugin that gives up on a missing dependency does."""

import sys

sys.exit(3)
