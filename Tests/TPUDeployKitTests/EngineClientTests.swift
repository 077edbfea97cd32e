import Foundation
import Testing
@testable import TPUDeployKit

@Suite struct HTTPResponseParserTests {
    /// Feeds `response` cut at `cut` and returns the head and body the parser produced.
    private func parse(_ response: String, cutAt cut: Int, closeAtEnd: Bool = false) throws -> (HTTPResponseHead?, String, Bool) {
        var parser = HTTPResponseParser()
        let bytes = Array(response.utf8)
        var body = try parser.consume(bytes[..<cut])
        body += try parser.consume(bytes[cut...])
        if closeAtEnd { try parser.finish() }
        return (parser.head, String(decoding: body, as: UTF8.self), parser.isComplete)
    }

    @Test func chunkedBodiesDecodeWhereverTheBytesAreCut() throws {
        let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
            + "6\r\ndata: \r\n" + "1a;ext=1\r\n{\"choices\":[{\"delta\":{}}]}\r\n" + "0\r\n\r\n"
        for cut in 0...response.utf8.count {
            let (head, body, complete) = try parse(response, cutAt: cut)
            #expect(head?.status == 200)
            #expect(head?.headers["content-type"] == "text/event-stream")
            #expect(body == "data: {\"choices\":[{\"delta\":{}}]}")
            #expect(complete)
        }
    }

    @Test func contentLengthBodiesStopAtTheirLength() throws {
        let response = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nhello"
        for cut in 0...response.utf8.count {
            let (head, body, complete) = try parse(response, cutAt: cut)
            #expect(head?.status == 503)
            #expect(body == "hello")
            #expect(complete)
        }
    }

    @Test func aBodyWithoutLengthEndsWithTheConnection() throws {
        let (_, body, complete) = try parse("HTTP/1.0 200 OK\r\n\r\nall of it", cutAt: 10, closeAtEnd: true)
        #expect(body == "all of it")
        #expect(complete)
    }

    @Test func truncatedAndMalformedAnswersAreErrors() throws {
        var parser = HTTPResponseParser()
        _ = try parser.consume(Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".utf8))
        #expect(throws: HTTPError.self) { try parser.finish() }
        var bad = HTTPResponseParser()
        #expect(throws: HTTPError.self) { _ = try bad.consume(Array("SSH-2.0-OpenSSH\r\n\r\n".utf8)) }
        var badChunk = HTTPResponseParser()
        #expect(throws: HTTPError.self) {
            _ = try badChunk.consume(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".utf8))
        }
    }
}

@Suite struct ServerSentEventTests {
    @Test func eventsCompleteAtTheirBlankLineAcrossReads() {
        var parser = ServerSentEventParser()
        var events: [String] = []
        let stream = ": comment\r\ndata: {\"a\":1}\r\n\r\ndata: first\ndata: second\n\nevent: x\ndata: [DONE]\n\n"
        for byte in stream.utf8 { events += parser.consume([byte]) }
        #expect(events == ["{\"a\":1}", "first\nsecond", "[DONE]"])
    }

    @Test func chunksCarryContentFinishAndUsage() throws {
        let chunk = try ChatChunk.decode(#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#)
        #expect(chunk == ChatChunk(content: "Hi"))
        let last = try ChatChunk.decode(#"{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":4}}"#)
        #expect(last.finishReason == "stop" && last.promptTokens == 9 && last.completionTokens == 4)
        #expect(throws: HTTPError.self) { try ChatChunk.decode(#"{"error":{"message":"boom"}}"#) }
        #expect(throws: HTTPError.self) { try ChatChunk.decode("not json") }
    }

    @Test func healthDecodesAndRecognisesAnNPUShortage() throws {
        let health = try EngineHealth.decode(Data(#"{"status":"failed","reason":"tpu-sim-runtime: NPU heap too small: the model needs 4609 MiB","seq_len":128}"#.utf8))
        #expect(health.status == .failed && health.seqLen == 128 && health.isNPUMemoryShortage)
        #expect(!EngineHealth(status: .ready).isNPUMemoryShortage)
        #expect(throws: HTTPError.self) { try EngineHealth.decode(Data("<html>".utf8)) }
    }

    /// What libbmlib and libbmrt print when a heap cannot hold an allocation (sophgo/libsophon), as the engine
    /// passes it on in its load error: each alone is a shortage, and the advice names the fix-memory command.
    @Test func theRuntimesOwnOutOfMemoryLinesAreAShortage() throws {
        let lines = [
            "[bmlib_memory][error] bm_alloc_gmem failed, dev_id = 0, size = 0x1f400000",
            "[BMRT][Register:2047] FATAL:coeff alloc failed, size[0x1f400000]",
            "[BMRT][must_alloc_device_mem_u64:2922] FATAL:device mem alloc failed: size=4831838208[0x20000000] type_len=1 status=5 desc=neuron_mem0",
        ]
        let fix = "tpudeploy fix-memory --board 1684x_evb --for-model chatglm2-6b"
        for line in lines {
            let health = EngineHealth(status: .failed, reason: "the runtime refused to load m.bmodel: \(line)")
            #expect(health.isNPUMemoryShortage, "\(line)")
            #expect(health.loadFailure(fixMemoryCommand: fix) == .failedToLoad(reason: health.reason!, fixMemoryCommand: fix))
            #expect("\(health.loadFailure(fixMemoryCommand: fix))".contains("run `\(fix)`"))
            #expect(health.fixMemoryAdvice(fix)?.contains("run `\(fix)`") == true)
        }
        #expect(EngineHealth(status: .ready).fixMemoryAdvice(fix) == nil)
        let broken = EngineHealth(status: .failed, reason: "the runtime refused to load m.bmodel: File[m.bmodel] is broken ...")
        #expect(!broken.isNPUMemoryShortage)
        #expect(broken.loadFailure(fixMemoryCommand: fix) == .failedToLoad(reason: broken.reason!, fixMemoryCommand: nil))
        #expect(broken.fixMemoryAdvice(fix) == nil)
    }
}

@Suite struct ChatTranscriptTests {
    @Test func slashCommandsAndMessages() {
        #expect(ChatTranscript.interpret("  /clear ") == .clear)
        #expect(ChatTranscript.interpret("/exit") == .exit)
        #expect(ChatTranscript.interpret("/help") == .help)
        #expect(ChatTranscript.interpret("   ") == .empty)
        #expect(ChatTranscript.interpret("/frobnicate") == .unknownCommand("/frobnicate"))
        #expect(ChatTranscript.interpret("/path/to a file?") == .message("/path/to a file?"))
        #expect(ChatTranscript.interpret("hello") == .message("hello"))
    }

    @Test func historyGrowsByExchangesAndClears() {
        var transcript = ChatTranscript(system: "Be brief.")
        #expect(transcript.messages(asking: "a") == [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "a")])
        transcript.record(question: "a", answer: "b")
        transcript.record(question: "stopped at once", answer: "")
        #expect(transcript.messages(asking: "c").map(\.content) == ["Be brief.", "a", "b", "c"])
        transcript.clear()
        #expect(transcript.messages(asking: "d").map(\.role) == ["system", "user"])
    }
}
