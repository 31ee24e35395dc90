"""Allow ``python -m spamwatch`` where the console script is not on PATH."""

from spamwatch.cli import main

if __name__ == "__main__":
    main()
