/// The audit log: hash-chained entries, encrypted in the repository, mirrored locally.
public enum TidemarkAudit {}
