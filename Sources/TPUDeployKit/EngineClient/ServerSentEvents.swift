/// Splits a `text/event-stream` body into the `data` of each event (the only field the engine sends). Bytes
/// go in as they arrive; an event is complete at its blank line.
public struct ServerSentEventParser: Sendable {
    private var pending: [UInt8] = []
    private var data: [String] = []

    public init() {}

    public mutating func consume(_ bytes: some Sequence<UInt8>) -> [String] {
        pending.append(contentsOf: bytes)
        var events: [String] = []
        while let newline = pending.firstIndex(of: 10) {
            var line = pending[..<newline]
            if line.last == 13 { line = line.dropLast() }
            let text = String(decoding: line, as: UTF8.self)
            pending.removeFirst(newline + 1)
            if text.isEmpty {
                if !data.isEmpty { events.append(data.joined(separator: "\n")) }
                data.removeAll()
            } else if text.hasPrefix("data:") {
                var value = text.dropFirst(5)
                if value.first == " " { value = value.dropFirst() }
                data.append(String(value))
            }
            // Comments (":") and other fields (event, id, retry) carry nothing the client needs.
        }
        return events
    }
}
