import Foundation

/// The conversation of `tpudeploy chat`: what the user typed, what the engine answered, and the few slash
/// commands the prompt understands. Pure; the terminal loop lives in the command.
public struct ChatTranscript: Sendable, Equatable {
    public enum Input: Sendable, Equatable {
        case message(String)
        case clear
        case exit
        case help
        case empty
        case unknownCommand(String)
    }

    public static let help = "/clear forgets the conversation, /exit (or Ctrl-D) leaves; Ctrl-C stops an answer"

    public private(set) var system: String?
    public private(set) var turns: [ChatMessage] = []

    public init(system: String? = nil) { self.system = system }

    public static func interpret(_ line: String) -> Input {
        let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
        switch text {
        case "": return .empty
        case "/clear": return .clear
        case "/exit", "/quit": return .exit
        case "/help", "/?": return .help
        default:
            if text.hasPrefix("/"), !text.contains(" ") { return .unknownCommand(text) }
            return .message(line)
        }
    }

    /// The messages to send for `question`, the history before it included.
    public func messages(asking question: String) -> [ChatMessage] {
        (system.map { [ChatMessage(role: "system", content: $0)] } ?? []) + turns + [ChatMessage(role: "user", content: question)]
    }

    /// Records a finished (or stopped) exchange; an answer stopped before any text leaves no trace.
    public mutating func record(question: String, answer: String) {
        guard !answer.isEmpty else { return }
        turns.append(ChatMessage(role: "user", content: question))
        turns.append(ChatMessage(role: "assistant", content: answer))
    }

    public mutating func clear() { turns.removeAll() }
}
