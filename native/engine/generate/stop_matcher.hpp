#pragma once
// Holds back generated text that could still become a stop string, so a stop string is never
// streamed (not even its first half) and everything before it is.
#include <string>
#include <string_view>
#include <vector>

namespace abi::engine {

class stop_matcher {
  public:
    explicit stop_matcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

    // Adds text; returns what is now safe to emit. After a match, `matched()` is true and the text
    // before the stop string has been returned; nothing more is accepted.
    std::string feed(std::string_view text) {
        if (matched_) return {};
        pending_.append(text);
        size_t cut = std::string::npos;
        for (const auto &s : stops_) {
            if (s.empty()) continue;
            const size_t at = pending_.find(s);
            if (at != std::string::npos && at < cut) cut = at;
        }
        if (cut != std::string::npos) {
            matched_ = true;
            std::string out = pending_.substr(0, cut);
            pending_.clear();
            return out;
        }
        const size_t keep = longest_partial();
        std::string out = pending_.substr(0, pending_.size() - keep);
        pending_.erase(0, pending_.size() - keep);
        return out;
    }

    // End of generation without a match: the held-back tail is ordinary text.
    std::string flush() {
        std::string out;
        out.swap(pending_);
        return out;
    }

    bool matched() const { return matched_; }

  private:
    // Length of the longest suffix of pending_ that is a proper prefix of some stop string.
    size_t longest_partial() const {
        size_t best = 0;
        for (const auto &s : stops_) {
            const size_t max = std::min(s.size() - (s.empty() ? 0 : 1), pending_.size());
            for (size_t len = max; len > best; --len) {
                if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
                    best = len;
                    break;
                }
            }
        }
        return best;
    }

    std::vector<std::string> stops_;
    std::string pending_;  // text not yet emitted
    bool matched_ = false;
};

}  // namespace abi::engine
