"""Testing tools shipped with teachkit: a fake OpenAI/Anthropic-compatible server.

Use it to test recipes offline and to measure throughput without paying for a teacher::

    from teachkit.testing import FakeServer, FaultPlan

    async with FakeServer({"France": "Paris."}, faults=FaultPlan(rate_429=0.05)) as server:
        ...  # point teacher.base_url at server.base_url

``teachkit serve-fake`` runs the same server from the shell; :class:`FakeServerProcess` runs it
in a child process from Python.
"""

from teachkit.testing.fake_server import FAULTS, FakeServer, FaultPlan
from teachkit.testing.process import FakeServerProcess, serve_forever
from teachkit.testing.script import FakeCall, Script, load_script, schema_instance

__all__ = [
    "FAULTS",
    "FakeCall",
    "FakeServer",
    "FakeServerProcess",
    "FaultPlan",
    "Script",
    "load_script",
    "schema_instance",
    "serve_forever",
]
