/// `transform` of every item, at most `width` at once (child tasks, so cancellation reaches
/// them), in the order of `items`. The first error thrown cancels the rest and is rethrown.
/// For I/O rounds and CPU work that should keep a few requests in flight without starting one
/// task per object.
package func boundedMap<Item: Sendable, Result: Sendable>(
    _ items: [Item], width: Int, _ transform: @escaping @Sendable (Item) async throws -> Result
) async throws -> [Result] {
    try await withThrowingTaskGroup(of: (Int, Result).self) { group in
        var next = 0
        var out = [Result?](repeating: nil, count: items.count)
        func add() {
            guard next < items.count else { return }
            let (i, item) = (next, items[next])
            next += 1
            group.addTask { (i, try await transform(item)) }
        }
        for _ in 0..<max(1, width) { add() }
        while let (i, result) = try await group.next() {
            out[i] = result
            add()
        }
        return out.compactMap { $0 }
    }
}
