"""What feeds an income stream besides its orders, registered by the app that holds it.

Commerce knows each stream's orders; other apps know the work that leads to them (growth's lead hand-offs
feed the consulting stream). An app registers, from its AppConfig.ready(), one function per stream kind;
commerce never imports the app. The function is called as

    func(*, company, since, orders) -> StreamInput

with the stream's paid orders since `since` ([{"id", "email", "paid_at"}], email lower case), and says
what came in over the period and which of those orders a person worked on before the sale: those are not
counted as automated, whatever their fulfilment was.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StreamInput:
    label: str  # e.g. "lead hand-offs"
    summary: str  # one line for people: counts and outcomes over the period
    counts: dict = field(default_factory=dict)
    person_step_orders: frozenset = frozenset()  # ids of the given orders a person worked on before the sale


_inputs: dict[str, list] = {}


def stream_input_register(kind: str, func) -> None:
    if func not in _inputs.setdefault(kind, []):
        _inputs[kind].append(func)


def stream_input_kinds() -> list[str]:
    return sorted(_inputs)


def stream_inputs(*, kind: str, company, since, orders: list[dict]) -> list[StreamInput]:
    return [func(company=company, since=since, orders=orders) for func in _inputs.get(kind, [])]
