import Tidemark
import Hummingbird
import ServiceLifecycle
import Prometheus

/// The long-running service: jobs, the scheduler and watchdog loops, notifications, metrics, HTTP.
public enum TidemarkServer {}
