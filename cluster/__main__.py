import sys

from cluster.spark import main

sys.exit(main(sys.argv[1:]))
