/// One line the relay agent (Sources/tpu-relay-agent) prints to the host, parsed. File numbers index the
/// distribution's files in the order they were given; sources are `ADDRESS:PORT`.
public enum RelayAgentLine: Sendable, Equatable {
    /// Printed by the board script before the agent starts: the board's address on the host's connection.
    case address(String)
    case ready(port: Int, pid: Int)
    case kept(file: Int, bytes: UInt64)
    case reach(peer: String, ok: Bool, reason: String)
    case probed
    /// No board left to pull from: the host must send `file` from `offset`.
    case need(file: Int, offset: UInt64)
    case source(file: Int, peer: String, offset: UInt64)
    case lost(file: Int, peer: String, offset: UInt64, reason: String)
    case progress(file: Int, bytes: UInt64)
    case installed(file: Int)
    case mismatch(file: Int, sha256: String)
    case failed(file: Int, code: String, message: String)
    case refused(peer: String, reason: String)
    case serving(peer: String, file: Int, offset: UInt64)
    case done
    case exit(reason: String, servedBytes: UInt64)
    case error(String)
    /// A line that is none of these (a shell's complaint, a newer agent's report).
    case other(String)

    public init(_ line: String) {
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let head = words.first ?? ""
        func int(_ i: Int) -> Int? { i < words.count ? Int(words[i]) : nil }
        func u64(_ i: Int) -> UInt64? { i < words.count ? UInt64(words[i]) : nil }
        func rest(_ i: Int) -> String { i < words.count ? words[i...].joined(separator: " ") : "" }
        switch head {
        case "@@address" where words.count >= 2: self = .address(words[1]); return
        case "@@ready": if let p = int(1), let pid = int(2) { self = .ready(port: p, pid: pid); return }
        case "@@kept": if let f = int(1), let b = u64(2) { self = .kept(file: f, bytes: b); return }
        case "@@reach" where words.count >= 3: self = .reach(peer: words[1], ok: words[2] == "ok", reason: rest(3)); return
        case "@@probed": self = .probed; return
        case "@@need": if let f = int(1), let o = u64(2) { self = .need(file: f, offset: o); return }
        case "@@source": if let f = int(1), let o = u64(3) { self = .source(file: f, peer: words[2], offset: o); return }
        case "@@lost": if let f = int(1), let o = u64(3) { self = .lost(file: f, peer: words[2], offset: o, reason: rest(4)); return }
        case "@@progress": if let f = int(1), let b = u64(2) { self = .progress(file: f, bytes: b); return }
        case "@@installed": if let f = int(1) { self = .installed(file: f); return }
        case "@@mismatch": if let f = int(1), words.count >= 3 { self = .mismatch(file: f, sha256: words[2]); return }
        case "@@failed": if let f = int(1), words.count >= 3 { self = .failed(file: f, code: words[2], message: rest(3)); return }
        case "@@refused" where words.count >= 2: self = .refused(peer: words[1], reason: rest(2)); return
        case "@@serving": if let f = int(2), let o = u64(3) { self = .serving(peer: words[1], file: f, offset: o); return }
        case "@@done": self = .done; return
        case "@@exit" where words.count >= 2: self = .exit(reason: words[1], servedBytes: u64(2) ?? 0); return
        case "@@error": self = .error(rest(1)); return
        default: break
        }
        self = .other(line)
    }
}
