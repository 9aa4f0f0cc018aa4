"""14. Infrastructure Changes, after the window (with --maintenance-type infrastructure)."""

from __future__ import annotations

import pytest

from maintcheck import assess, assess_services, probes
from maintcheck.baseline import Declared
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations, Host
from maintcheck.runner import Runner
from maintcheck.secret import HttpOptions


@pytest.mark.checklist("14.4")
@pytest.mark.applies_to("dns")
def test_dns_names_resolve_as_declared(facts: Facts, expect: Expectations) -> None:
    """Declared names resolve to exactly the expected addresses."""
    assert assess.dns_mismatches(facts, expect.dns) == []


@pytest.mark.checklist("14.5")
@pytest.mark.applies_to("haproxy_backends")
def test_load_balancer_configuration_has_backends(target: Host, expect: Expectations,
                                                  runner: Runner, declared: Declared,
                                                  http_options: HttpOptions) -> None:
    """The HAProxy configuration declares every expected backend and server, HAProxy runs
    what it declares, and every declared server is in service."""
    text = runner.run(["cat", expect.haproxy_config]).stdout
    configured = probes.haproxy.config_backends(text)
    running = probes.haproxy.stats(expect.haproxy_stats_url, timeout=http_options["timeout"],
                                   on_retry=http_options["on_retry"],
                                   credentials=http_options["credentials"])
    assert assess_services.backends_configured(target.name, configured,
                                               expect.haproxy_backends, running) == []
    assert assess_services.backends_up(target.name, running, expect.haproxy_backends,
                                       declared.servers) == []


@pytest.mark.checklist("14.6")
@pytest.mark.applies_to("firewall_rules")
def test_firewall_rules_present(facts: Facts, expect: Expectations) -> None:
    """Every expected rule fragment is in the loaded ruleset."""
    missing = [rule for rule in expect.firewall_rules if rule not in facts.firewall]
    assert missing == [], (f"{facts.host}: firewall rules missing: {missing}, expected in the "
                           "loaded ruleset")
