/// Why a board did not get the files of a distribution. Each case has a stable `code` for JSON and the rollout's
/// report; the text says what happened and what to do.
public enum DistributionError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Preparing the board failed before its agent ran (lock taken by another run, directory unusable, probe).
    case preparationFailed(board: String, code: String, message: String)
    case notEnoughSpace(board: String, directory: String, freeBytes: UInt64, neededBytes: UInt64)
    /// No relay agent was built for the board's architecture.
    case agentMissing(board: String, arch: String, searched: [String])
    case agentDidNotStart(board: String, output: String)
    /// The agent ended before every file was in place (killed, crashed, out of memory).
    case agentExited(board: String, output: String)
    /// The agent reported a file it could not put in place (hash mismatch twice, a write error, no space).
    case fileFailed(board: String, file: String, agentCode: String, message: String)
    case connectionLost(board: String, reason: String)
    case manifestNotWritten(board: String, output: String)
    /// The distribution was stopped (the second Ctrl-C of a rollout) before the board had every file.
    case interrupted(board: String)

    /// The stable code: `board_busy`, `directory_unusable`, `no_space`, `agent_missing`, `agent_did_not_start`,
    /// `agent_exited`, `hash_mismatch`, `write_failed`, `connection_lost`, `manifest_not_written`, `interrupted`, ….
    public var code: String {
        switch self {
        case .preparationFailed(_, let code, _): return code
        case .notEnoughSpace: return "no_space"
        case .agentMissing: return "agent_missing"
        case .agentDidNotStart: return "agent_did_not_start"
        case .agentExited: return "agent_exited"
        case .fileFailed(_, _, let code, _): return code
        case .connectionLost: return "connection_lost"
        case .manifestNotWritten: return "manifest_not_written"
        case .interrupted: return "interrupted"
        }
    }

    /// Whether running the distribution again may succeed without a change on the board (what it kept is resumed).
    public var retryable: Bool {
        switch self {
        case .agentExited, .connectionLost, .agentDidNotStart, .manifestNotWritten, .interrupted: return true
        case .preparationFailed(_, let code, _): return code == "board_busy" || code == "connection_lost"
        case .fileFailed(_, _, let code, _): return code == "hash_mismatch"
        case .notEnoughSpace, .agentMissing: return false
        }
    }

    public var description: String {
        switch self {
        case .preparationFailed(let board, _, let message):
            return "\(board): \(message)"
        case .notEnoughSpace(let board, let directory, let free, let needed):
            return "\(board): \(directory) has \(ByteCount.human(free)) free, the files need \(ByteCount.human(needed)). Nothing was sent; free space there and run again."
        case .agentMissing(let board, let arch, let searched):
            return "\(board): no tpu-relay-agent build for \(arch) (looked at \(searched.joined(separator: ", "))). Run `make cross` to build Payloads/\(arch)/tpu-relay-agent."
        case .agentDidNotStart(let board, let output):
            return "\(board): the relay agent did not start: \(output.prefix(300))"
        case .agentExited(let board, let output):
            return "\(board): the relay agent ended before the files were in place\(output.isEmpty ? "" : " (\(output.prefix(200)))"). What arrived is kept; run the distribution again to resume."
        case .fileFailed(let board, let file, _, let message):
            return "\(board): \(file): \(message)"
        case .connectionLost(let board, let reason):
            return "\(board): the SSH connection was lost: \(reason). What arrived is kept; run again to resume."
        case .manifestNotWritten(let board, let output):
            return "\(board): the files are in place but the deployment's manifest could not be written (\(output.prefix(200))); a push will hash them again."
        case .interrupted(let board):
            return "\(board): the distribution was stopped before every file was in place. What arrived is kept; the next run resumes it."
        }
    }
}
