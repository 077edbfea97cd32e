import ArgumentParser
import Foundation
import TPUDeployKit

struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk to the model on the board; answers stream in as they are generated.",
        discussion: """
            Everything goes through the board's SSH connection to the engine on the board's 127.0.0.1 (a direct-tcpip channel per answer): nothing is exposed on the board's network. The conversation keeps its history; /clear forgets it, /exit or Ctrl-D leaves, Ctrl-C stops the current answer (not the program).

              tpudeploy chat
              tpudeploy chat -p "Write a haiku about DDR" --max-tokens 64
              tpudeploy chat -p "hello" --json        # one JSON object: reply, timings

            An engine launched with an API key wants it here too: TPUDEPLOY_API_KEY, --api-key-file FILE, or (on a terminal) a prompt. There is no --api-key KEY: a key on the command line shows in `ps`.
            """
    )

    @OptionGroup var target: TargetOptions
    @OptionGroup var deployment: DeploymentOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .shortAndLong, help: "Ask one question, print the answer and exit (for scripts).")
    var prompt: String?

    @Option(name: .long, help: "System message.")
    var system: String?

    @Option(name: .long, help: "Sampling temperature; 0 is greedy (the default).")
    var temperature: Double = 0

    @Option(name: .long, help: "Nucleus sampling: keep the smallest set of tokens whose probability reaches this.")
    var topP: Double?

    @Option(name: .long, help: "Stop after this many tokens (default: the end of the answer or of the context).")
    var maxTokens: Int?

    @OptionGroup var apiKey: APIKeyOptions

    struct OneShot: Encodable {
        var schema = "tpudeploy.chat/1"
        var prompt: String
        var reply: ChatReply
    }

    func run() async throws {
        try await reportingFailures(json: output.json) {
            if prompt == nil, isatty(STDIN_FILENO) != 1 {
                throw ValidationError("chat without -p needs a terminal to type into; for scripts use: tpudeploy chat -p \"QUESTION\"")
            }
            let context = try EngineCommandContext(target: target, deployment: deployment)
            let options = ChatOptions(temperature: temperature, topP: topP, maxTokens: maxTokens)
            let key = try apiKey.key()
            let json = output.json
            let system = self.system
            let askForKey = apiKey.prompt
            if let prompt {
                let reply = try await context.withBoard { board in
                    try await board.engine.withAuthorizedAPI(on: board.session, apiKey: key, askForKey: askForKey) { api in
                        try await api.chat(ChatTranscript(system: system).messages(asking: prompt), options: options) { piece in
                            if !json { FileHandle.standardOutput.write(Data(piece.utf8)) }
                        }
                    }
                }
                if json { try printJSON(OneShot(prompt: prompt, reply: reply)) } else { print("") }
                return
            }
            try await context.withBoard { board in
                let engine = board.engine
                try await engine.withAuthorizedAPI(on: board.session, apiKey: key, askForKey: askForKey) { api in
                    try await ChatSession(api: api, options: options, system: system, explain: { engine.explained($0) }).run()
                }
            }
        }
    }
}

/// The interactive loop: one question per line, answers streamed, Ctrl-C cancelling only the answer.
private final class ChatSession: @unchecked Sendable {
    let api: EngineAPI
    let options: ChatOptions
    var transcript: ChatTranscript
    private let lock = NSLock()
    private var current: HTTPCancellation?
    private var shown = ""

    private func setCurrent(_ answer: HTTPCancellation?) {
        lock.withLock { current = answer; if answer != nil { shown = "" } }
    }

    /// Prints a piece of the answer unless Ctrl-C stopped it: under the lock `run`'s handler cancels with, so no
    /// piece shows after the ^C the terminal echoed.
    private func show(_ piece: String) {
        lock.withLock {
            guard current?.isCancelled != true else { return }
            shown += piece
            FileHandle.standardOutput.write(Data(piece.utf8))
        }
    }

    private var shownText: String { lock.withLock { shown } }

    /// Turns a failed answer's error into what to tell the user (an engine that stopped meanwhile).
    let explain: @Sendable (Error) -> Error

    init(api: EngineAPI, options: ChatOptions, system: String?, explain: @escaping @Sendable (Error) -> Error) {
        self.api = api
        self.options = options
        self.explain = explain
        transcript = ChatTranscript(system: system)
    }

    func run() async throws {
        try await handlingInterrupts({ [self] in
            if lock.withLock({ current.map { $0.cancel() } }) == nil { FileHandle.standardError.write(Data("\n(Ctrl-D or /exit leaves)\n> ".utf8)) }
        }) {
            try await converse()
        }
    }

    private func converse() async throws {
        FileHandle.standardError.write(Data("Connected. \(ChatTranscript.help).\n".utf8))
        while true {
            FileHandle.standardOutput.write(Data("> ".utf8))
            // Waiting for a person to type: on a thread of its own, off the cooperative pool.
            guard let line = await DedicatedThread.run("tpudeploy.chat-input", { readLine() }) else { print(""); return }
            switch ChatTranscript.interpret(line) {
            case .empty: continue
            case .exit: return
            case .help: print(ChatTranscript.help)
            case .clear:
                transcript.clear()
                print("(conversation cleared)")
            case .unknownCommand(let command): print("unknown command \(command); \(ChatTranscript.help)")
            case .message(let question):
                var answer = ""
                do {
                    let messages = transcript.messages(asking: question)
                    let cancellation = HTTPCancellation()
                    setCurrent(cancellation)
                    let reply = try await api.chat(messages, options: options, cancellation: cancellation) { piece in show(piece) }
                    answer = reply.text
                    print("")
                } catch HTTPError.cancelled {
                    print("\n(stopped)")
                    // What was shown stays in the history, as the user saw it.
                    answer = shownText
                } catch {
                    print("")
                    FileHandle.standardError.write(Data("tpudeploy: error: \(explain(error))\n".utf8))
                }
                setCurrent(nil)
                transcript.record(question: question, answer: answer)
            }
        }
    }
}
