// Placeholder until samd-agent is written.
@main
struct Main {
    static func main() {}
}
