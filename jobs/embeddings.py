"""spark-submit entry point for the 'embeddings' stage: arguments in, library call, exit code out.

    spark-submit jobs/embeddings.py --conf conf/local.toml --run-date 2026-11-21
"""

import sys

from shoprank.cli import main

if __name__ == "__main__":
    sys.exit(main(["embeddings", *sys.argv[1:]]))
