"""``python -m teachkit.testing``: the ``teachkit serve-fake`` command on its own."""

from teachkit.cli.serve import standalone

if __name__ == "__main__":
    standalone()
