import ArgumentParser
import Foundation
import TPUDeployKit

#if canImport(Glibc)
import Glibc
#endif

/// `--api-key-file`, shared by the commands that use the engine's API key (launch, chat, verify). The key is
/// taken as passwords are: TPUDEPLOY_API_KEY, then the file, then (chat and verify) a prompt on a terminal.
/// Never from a flag's value, which every user of the machine sees in `ps` and which lands in shell history.
struct APIKeyOptions: ParsableArguments {
    @Option(name: .long, help: "File whose first line is the engine's API key (or set TPUDEPLOY_API_KEY).")
    var apiKeyFile: String?

    /// Only to refuse it with the way that keeps the key out of `ps`.
    @Option(name: .long, help: .hidden)
    var apiKey: String?

    func validate() throws {
        if apiKey != nil {
            throw ValidationError("--api-key KEY puts the key in every process list and in your shell history; write it to a file only you can read and pass --api-key-file FILE, or set TPUDEPLOY_API_KEY")
        }
    }

    /// The key from TPUDEPLOY_API_KEY or --api-key-file; nil when neither gives one.
    func key() throws -> EngineAPIKey? {
        if let value = ProcessInfo.processInfo.environment["TPUDEPLOY_API_KEY"] {
            return try EngineAPIKey(value, source: "TPUDEPLOY_API_KEY")
        }
        guard let apiKeyFile else { return nil }
        guard let data = FileManager.default.contents(atPath: apiKeyFile) else {
            throw ValidationError("cannot read the API key file \(apiKeyFile); check --api-key-file")
        }
        return try EngineAPIKey(fileText: String(decoding: data, as: UTF8.self), source: "--api-key-file \(apiKeyFile)")
    }

    /// Asks on the terminal, without echo, when there is one; nil otherwise (scripts get the error naming the
    /// variable and the flag instead of a wait).
    var prompt: (@Sendable () throws -> EngineAPIKey?)? {
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        return {
            guard let typed = PasswordSource.readWithoutEcho(prompt: "API key for the engine: "), !typed.isEmpty else { return nil }
            return try EngineAPIKey(typed, source: "the prompt")
        }
    }
}
