"""Probe a device: deploy the agent if needed and ask it for its facts."""
from .deploy import DeployReport, deploy_agent, resolve_workdir
from .errors import DeviceError
from .session import AgentSession
from .transport import connect


def probe_device(device) -> dict:
    with connect(device) as conn:
        workdir = resolve_workdir(conn, device.python, device.workdir)
        agent_path = deploy_agent(conn, workdir, DeployReport())
        session = AgentSession(conn, device.python, agent_path, workdir)
        try:
            return session.probe()
        finally:
            session.close()


__all__ = ["probe_device", "DeviceError"]
