"""spark-submit entry point for the 'features' stage: arguments in, library call, exit code out.

    spark-submit jobs/features.py --conf conf/local.toml --run-date 2026-11-21
"""

import sys

from shoprank.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
