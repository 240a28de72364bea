"""The session agent's process, `python -m vault.agent_main`, which `vault unlock` and the app's
*Unlock for the command line* start (vault.session.agent_client.start, told this module's name by
the face that starts it).

It joins the two sides the layers keep apart: the agent's loop (vault.session.agent, domain, which
knows no face) and the command line's runner for the commands the agent serves (vault.cli.served).
It sits in the top layer with vault.__main__, so import-linter sees both imports. The command line
is imported after the agent has answered that it is ready: at once when `vault unlock` asks it to
open the vault ahead of the commands (a preload, on a thread of its own), else at the first command
served. Either way the agent starts as quickly as the loop alone (docs/SECURITY.md).
"""

from __future__ import annotations

from vault.session import agent


def command_line_service(socket_path: str, vault_id: str) -> agent.Service:
    """The command line's runner of `vault ls`, `search`, `show` and `new`, on this session's
    vault (imported here, at the first command the agent serves)."""
    from vault.cli.served import Service

    return Service(socket_path, vault_id)


def main() -> int:
    return agent.main(command_line_service)


if __name__ == "__main__":
    raise SystemExit(main())
