/// Reads a sample from Prometheus' text exposition format (the engine's `/metrics`).
public enum PrometheusText {
    /// The value of the first sample of `metric` without labels, or nil.
    public static func value(of metric: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, fields[0] == metric, let value = Double(fields[1]) { return value }
        }
        return nil
    }
}
