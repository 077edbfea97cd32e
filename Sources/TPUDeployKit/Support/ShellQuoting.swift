/// Quotes `text` as one word for a POSIX shell on the board, whatever characters it holds. The one function
/// every value that reaches a board shell goes through.
public func shellQuoted(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// A command line of `words`, each quoted by `shellQuoted`.
public func shellCommand(_ words: [String]) -> String {
    words.map(shellQuoted).joined(separator: " ")
}
