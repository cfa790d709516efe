"""A Metaflow flow that gets its database password through secretexec,
next to the same step written with Metaflow's own @secrets decorator.

secretexec runs in front of any program, so the step's real work can be a
script in any language; the step only wraps it. Run with
`python secrets_flow.py run` where secretexec is on PATH (pip install
secretexec) and the task's role may read prod/db-credentials.
"""

import subprocess

from metaflow import FlowSpec, environment, secrets, step


class SecretsFlow(FlowSpec):
    @environment(vars={"SECRETEXEC_SOURCES": '["prod/db-credentials"]'})
    @step
    def start(self):
        # secretexec fetches the secret and execs the script with DB_USER,
        # DB_PASSWORD, ... in its environment; a failure fails the step
        # before the script starts (exit 125).
        subprocess.run(["secretexec", "--", "python", "load.py"], check=True)
        self.next(self.with_decorator)

    # The same with Metaflow's decorator: only Python code in this process
    # sees the variables.
    @secrets(sources=["prod/db-credentials"])
    @step
    def with_decorator(self):
        import os

        assert "DB_PASSWORD" in os.environ
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SecretsFlow()
