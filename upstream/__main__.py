from upstream.cli import main

main()
