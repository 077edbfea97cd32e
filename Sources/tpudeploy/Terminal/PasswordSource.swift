import Foundation
import TPUDeployKit

#if canImport(Glibc)
import Glibc
#endif

/// Why no password could be had.
enum PasswordError: Error, CustomStringConvertible {
    case unreadableFile(String)
    case emptyFile(String)

    var description: String {
        switch self {
        case .unreadableFile(let path): return "cannot read the password file \(path); check --password-file."
        case .emptyFile(let path): return "the password file \(path) is empty."
        }
    }
}

/// Passwords from TPUDEPLOY_PASSWORD, then --password-file, then a prompt — the prompt only when standard
/// input is a terminal, never in scripts or CI. Never from a plain flag, which would land in shell history.
struct PasswordSource: Sendable {
    var file: String?

    var provider: PasswordProvider {
        let file = self.file
        return { prompt in
            if let fromEnvironment = ProcessInfo.processInfo.environment["TPUDEPLOY_PASSWORD"] { return fromEnvironment }
            if let file {
                guard let data = FileManager.default.contents(atPath: file) else { throw PasswordError.unreadableFile(file) }
                let text = String(decoding: data, as: UTF8.self)
                let password = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
                if password.isEmpty { throw PasswordError.emptyFile(file) }
                return password
            }
            guard isatty(STDIN_FILENO) == 1 else { return nil }
            return Self.readWithoutEcho(prompt: prompt)
        }
    }

    static func readWithoutEcho(prompt: String) -> String? {
        FileHandle.standardError.write(Data(prompt.utf8))
        var original = termios()
        tcgetattr(STDIN_FILENO, &original)
        var silent = original
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSANOW, &original)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        return readLine(strippingNewline: true)
    }
}
