"""Testing tools shipped with teachkit: a fake OpenAI/Anthropic-compatible server, and a
scripted teacher that runs in the test's own process.

Use them to test recipes and plugins offline and to measure throughput without paying for a
teacher::

    from teachkit.testing import FakeServer, FaultPlan

    async with FakeServer({"France": "Paris."}, faults=FaultPlan(rate_429=0.05)) as server:
        ...  # point teacher.base_url at server.base_url

``teachkit serve-fake`` runs the same server from the shell; :class:`FakeServerProcess` runs it
in a child process from Python. :class:`ScriptedBackend` (``backend: scripted``) answers in-process
from a Python function, and records every request it got::

    from teachkit.testing import ScriptedBackend

    ScriptedBackend.use(lambda request: "Paris.")
"""

from teachkit.testing.fake_server import FAULTS, FakeServer, FaultPlan
from teachkit.testing.process import FakeServerProcess, serve_forever
from teachkit.testing.script import FakeCall, Script, load_script, schema_instance
from teachkit.testing.scripted import ScriptedBackend, echo_answer, last_text

__all__ = [
    "FAULTS",
    "FakeCall",
    "FakeServer",
    "FakeServerProcess",
    "FaultPlan",
    "Script",
    "ScriptedBackend",
    "echo_answer",
    "last_text",
    "load_script",
    "schema_instance",
    "serve_forever",
]
