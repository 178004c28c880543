// Placeholder until samd-demo is written.
@main
struct Main {
    static func main() {}
}
