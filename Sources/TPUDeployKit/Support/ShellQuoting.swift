/// Quotes `text` as one word for a POSIX shell on the board, whatever characters it holds.
public func shellQuoted(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
