"""`python -m api.cli ...` runs the command line (where no console script is on PATH)."""

from api.cli import run

if __name__ == "__main__":
    run()
