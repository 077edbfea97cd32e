import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The web chat page at `/` in headless Chromium, as a person uses it: stopping an answer, typing during one,
/// a wrong key, and the engine going away.
@Suite(.serialized, .hangGuard)
struct EngineChatPageTests {
    /// Polls a JavaScript expression until it is true; fails naming it.
    static func waitFor(_ browser: HeadlessChromium, _ expression: String, timeout: Double = 120) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try browser.evaluate("!!(\(expression))") as? Bool == true { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw EngineTestSupport.MissingPrerequisite(description: "the page never got to: \(expression)")
    }

    static func text(_ browser: HeadlessChromium, _ expression: String) throws -> String {
        try browser.evaluate(expression) as? String ?? ""
    }

    @Test func stopEndsTheAnswerAndAMessageTypedMeanwhileIsQueuedNotLost() throws {
        // 200 ms per piece: an answer takes seconds, time enough to type and to stop it.
        let engine = try ServedEngine(environment: ["TPU_ENGINE_PIECE_DELAY_MS": "200"])
        try engine.waitUntilReady()
        let browser = try HeadlessChromium()
        defer { browser.quit() }
        try browser.open("http://127.0.0.1:\(engine.port)/?prompt=Hello")
        try Self.waitFor(browser, "document.querySelector('.message.assistant.streaming')?.textContent.length > 0")
        #expect(try browser.evaluate("getComputedStyle(document.getElementById('stop')).display") as? String != "none")

        // Typed during the answer: shown at once, queued.
        try browser.evaluate("input.value = 'Second'; document.getElementById('composer').requestSubmit(); 0")
        #expect(try Self.text(browser, "document.querySelector('.message.user.queued')?.textContent") == "Second")

        // Stop: the partial answer stays, then the queued message goes out.
        try browser.evaluate("document.getElementById('stop').click(); 0")
        try Self.waitFor(browser, "document.querySelectorAll('.message.user:not(.queued)').length === 2")
        #expect(try browser.evaluate("document.querySelectorAll('.message.user.queued').length") as? Int == 0)
        #expect(try Self.text(browser, "document.querySelector('.message.error')?.textContent") == "stopped")
        try Self.waitFor(browser, "document.querySelector('.message.assistant.streaming')?.textContent.length > 0")
        try browser.evaluate("document.getElementById('stop').click(); 0")
        #expect(try browser.waitForPageState(["stopped"], timeout: 120) == "stopped")

        let roles = try Self.text(browser, "conversation.map(m => m.role + ':' + (m.role === 'user' ? m.content : '…')).join(' ')")
        #expect(roles == "user:Hello assistant:… user:Second assistant:…")
        let partial = try Self.text(browser, "conversation[1].content")
        #expect(!partial.isEmpty)
    }

    @Test func aWrongKeySaysWrongKey() throws {
        let engine = try ServedEngine(arguments: ["--api-key-file", try EngineServerTests.secretFile("right\n")])
        try engine.waitUntilReady()
        let browser = try HeadlessChromium()
        defer { browser.quit() }
        try browser.open("http://127.0.0.1:\(engine.port)/")
        try Self.waitFor(browser, "document.body.dataset.state === 'ready'")
        try Self.waitFor(browser, "document.getElementById('key-row').classList.contains('needed')")
        #expect(try Self.text(browser, "statusLine.textContent").contains("needs an API key"))

        try browser.evaluate("keyField.value = 'wrong'; keyField.dispatchEvent(new Event('change')); ask('Hello'); 0")
        #expect(try browser.waitForPageState(["error", "done"], timeout: 120) == "error")
        #expect(try Self.text(browser, "document.querySelector('.message.error')?.textContent").hasPrefix("wrong key"))
        try Self.waitFor(browser, "statusLine.textContent.includes('wrong key')")

        try browser.evaluate("keyField.value = 'right'; ask('Hello'); 0")
        #expect(try browser.waitForPageState(["done"], timeout: 120) == "done")
        #expect(!(try Self.text(browser, "statusLine.textContent").contains("wrong key")))
    }

    @Test func theHeaderSaysWhenTheEngineIsGone() throws {
        let engine = try ServedEngine()
        try engine.waitUntilReady()
        let browser = try HeadlessChromium()
        defer { browser.quit() }
        try browser.open("http://127.0.0.1:\(engine.port)/")
        try Self.waitFor(browser, "document.body.dataset.state === 'ready'")
        #expect(try browser.evaluate("document.body.dataset.engine") as? String != "gone")
        kill(engine.processIdentifier, SIGKILL)
        try Self.waitFor(browser, "document.body.dataset.engine === 'gone'")
        #expect(try Self.text(browser, "statusLine.textContent").contains("the engine is gone"))
    }
}
