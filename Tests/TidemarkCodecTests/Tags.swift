import Testing

extension Tag {
    /// Pure computation on bytes and values: no I/O, no services.
    @Tag static var small: Self
}
