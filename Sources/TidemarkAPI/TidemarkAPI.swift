import Hummingbird
import TidemarkServer

/// The admin API of `tidemark serve` (docs/api.md): bearer tokens kept as hashes in the
/// repositories, the routes, the API's jobs, TLS.
public enum TidemarkAPI {}
