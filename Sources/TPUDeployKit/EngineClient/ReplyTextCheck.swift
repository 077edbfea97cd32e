/// Whether an engine's answer is text a tokenizer could have produced from real ids, for `verify`: damaged
/// weights or a tokenizer of another model give ids the tokenizer cannot turn back into text, which come out
/// as sentencepiece's unknown-piece mark " ⁇ " (U+2047, what `DecodeIds` prints for an id it cannot map), as
/// U+FFFD (bytes that are not UTF-8: byte-fallback pieces out of order), as control characters, or as nothing.
public enum ReplyTextCheck {
    private static let advice = " (`tpudeploy push` sends again any file changed on the board since it was pushed)"

    /// Nil when `text` is a plausible answer, else what is wrong with it.
    public static func problem(in text: String) -> String? {
        let scalars = text.unicodeScalars
        if text.allSatisfy({ $0.isWhitespace }) { return "the answer is empty" }
        let unknown = scalars.filter { $0 == "\u{2047}" }.count
        if unknown > 0 {
            return "the answer holds \(unknown) ⁇ (U+2047), the tokenizer's mark for an id it does not know: the weights are damaged or the tokenizer belongs to another model\(advice)"
        }
        let replaced = scalars.filter { $0 == "\u{FFFD}" }.count
        if replaced > 0 {
            return "the answer holds \(replaced) U+FFFD replacement character\(replaced == 1 ? "" : "s") (bytes that are not UTF-8): the weights are damaged or the tokenizer belongs to another model\(advice)"
        }
        let controls = scalars.filter { $0.value < 0x20 && !["\n", "\t", "\r"].contains($0) || (0x7F...0x9F).contains($0.value) }.count
        if controls > 0 { return "the answer holds \(controls) control character\(controls == 1 ? "" : "s"): the weights are damaged or the tokenizer belongs to another model\(advice)" }
        return nil
    }
}
