import sys

from ingestion.cli import main

sys.exit(main(own_process=True))
