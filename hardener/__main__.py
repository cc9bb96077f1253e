"""`python -m hardener ...`: the same entry point as the `hardener` console script."""
from hardener.cli.entry import main

main()
