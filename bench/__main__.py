"""`make bench`: run every benchmark in turn (each prints its own table)."""

import sys

from bench import sfu

if __name__ == "__main__":
    sys.exit(sfu.main([]))
