"""The real services as processes, as a deployment runs them: the Stripe emulator, the
schema applied by ``caixa-migrate``, the webhook endpoint registered by
``billing-service register-stripe-webhook``, then billing and entitlement on an SQLite
file, with caller tokens and a caller policy. Binaries come from ``CAIXA_BIN_DIR``
(default: the workspace's ``target/debug``, built by ``scripts/check-python-client.sh``)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from caixa_client import BillingClient, CaixaError, EntitlementClient

REPO = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("CAIXA_BIN_DIR", REPO / "target" / "debug"))

#: Callers and their tokens; ``web`` may call everything a web backend calls, ``reports``
#: only CheckAccess, ``entitlement`` only billing's log.
TOKENS = {"web": "web-token-for-tests", "reports": "reports-token-for-tests", "entitlement": "follower-token"}
POLICY = (
    "web = caixa.billing.v1.BillingService/*, caixa.entitlement.v1.EntitlementService/*; "
    "reports = caixa.entitlement.v1.EntitlementService/CheckAccess; "
    "entitlement = caixa.billing.v1.SubscriptionEvents/*"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, ready: Callable[[], bool], seconds: float = 30.0) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if ready():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} within {seconds} s")


@dataclass
class Stack:
    """Addresses of the running services and the processes behind them."""

    folder: Path
    emulator: str = ""
    billing: str = ""
    entitlement: str = ""
    price: str = ""
    processes: list[subprocess.Popen] = field(default_factory=list)

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")
        process = subprocess.Popen([str(BIN / args[0]), *args[1:]], env={**os.environ, **env}, stdout=log, stderr=log)
        self.processes.append(process)
        return process

    def stripe(self, path: str, form: dict[str, str] | None = None) -> dict:
        """A call to the emulator, as Stripe's API takes it (form-encoded, a test key)."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.emulator + path, data=data)
        request.add_header("Authorization", "Bearer sk_test_emulator")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def subscribe(self, user_id: str, billing: BillingClient) -> int:
        """A checkout for ``user_id`` completed at the emulator and synced; the revision."""
        session = billing.create_checkout_session(user_id, f"{user_id}@example.com")
        self.stripe(f"/_emulator/checkout/sessions/{session.session_id}/complete", {})
        return billing.sync_checkout_session(session.session_id).revision

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def start(folder: Path) -> Stack:
    stack = Stack(folder)
    emulator_port, billing_port, bridge_port, entitlement_port = (free_port() for _ in range(4))
    stack.emulator = f"http://127.0.0.1:{emulator_port}"
    stack.spawn("stripe-emulator", ["stripe-emulator"], {"STRIPE_EMULATOR_ADDR": f"127.0.0.1:{emulator_port}"})
    wait_for("the emulator answers", lambda: _answers(stack.emulator + "/_emulator/clock"))
    product = stack.stripe("/v1/products", {"name": "Caixa Pro", "metadata[features]": "app,reports"})
    price = stack.stripe(
        "/v1/prices",
        {"product": product["id"], "currency": "brl", "unit_amount": "4990", "recurring[interval]": "month"},
    )
    stack.price = price["id"]

    tokens = folder / "tokens"
    tokens.write_text("".join(f"{c} {hashlib.sha256(t.encode()).hexdigest()}\n" for c, t in TOKENS.items()))
    (folder / "follower-token").write_text(TOKENS["entitlement"])
    database = f"sqlite://{folder / 'caixa.sqlite'}?mode=rwc"
    common = {
        "DATABASE_URL": database,
        "LOG_FORMAT": "json",
        "CALLER_TOKENS_FILE": str(tokens),
        "CALLER_POLICY": POLICY,
    }
    billing_env = {
        **common,
        "BILLING_GRPC_ADDR": f"127.0.0.1:{billing_port}",
        "BILLING_HTTP_ADDR": f"127.0.0.1:{bridge_port}",
        "STRIPE_API_BASE": stack.emulator,
        "STRIPE_TEST_SECRET_KEY": "sk_test_emulator",
        "STRIPE_TEST_PUBLIC_KEY": "pk_test_emulator",
        "STRIPE_DEFAULT_PRICE_ID": stack.price,
    }
    _run(folder, "caixa-migrate", ["caixa-migrate", "up"], common)
    _run(
        folder,
        "register",
        ["billing-service", "register-stripe-webhook", f"http://127.0.0.1:{bridge_port}/"],
        billing_env,
    )
    # The plan was made before billing listened: its catalogue is read from Stripe, as a
    # team taking an account over does.
    _run(folder, "sync", ["billing-service", "sync-stripe", "--only", "products,prices"], billing_env)
    stack.spawn("billing", ["billing-service"], billing_env)
    stack.billing = f"http://127.0.0.1:{billing_port}"
    stack.spawn(
        "entitlement",
        ["entitlement-service"],
        {
            **common,
            "ENTITLEMENT_GRPC_ADDR": f"127.0.0.1:{entitlement_port}",
            "BILLING_URL": stack.billing,
            "BILLING_TOKEN_FILE": str(folder / "follower-token"),
            "SHUTDOWN_GRACE_SECONDS": "1",
        },
    )
    stack.entitlement = f"http://127.0.0.1:{entitlement_port}"
    with BillingClient(stack.billing, token=TOKENS["web"]) as billing:
        wait_for("billing answers", lambda: _succeeds(billing.config))
    with EntitlementClient(stack.entitlement, token=TOKENS["web"]) as entitlement:
        wait_for("the entitlement service answers", lambda: _succeeds(lambda: entitlement.check("nobody")))
    return stack


def _run(folder: Path, name: str, args: list[str], env: dict[str, str]) -> None:
    with open(folder / f"{name}.log", "w") as log:
        done = subprocess.run([str(BIN / args[0]), *args[1:]], env={**os.environ, **env}, stdout=log, stderr=log)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {(folder / f'{name}.log').read_text()}")


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).read()
        return True
    except OSError:
        return False


def _succeeds(call: Callable[[], object]) -> bool:
    try:
        call()
        return True
    except CaixaError:
        return False
