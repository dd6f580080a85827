import Tidemark

/// The long-running service's module (scheduler, notifications, admin API) builds here; the
/// service issue fills it. It sits above `Tidemark` and below the `tidemark` executable.
public enum TidemarkServer {}
