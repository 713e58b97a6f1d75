// JS test binding: exports.tokenizer = { Tokenizer, Detokenizer }. Used by tests to compare our
// tokenization with llama.cpp's and by lib/models to tokenize without loading a model.
#include <napi.h>

#include <memory>

#include "addon/registry.hpp"
#include "engine/tokenizer/tokenizer.hpp"

namespace abi::engine {

namespace {

// Tags our wrapped objects so Detokenizer can check it was handed a Tokenizer.
const napi_type_tag tokenizer_tag = {0x8c1f4a77d2e34b19ull, 0xa5b3c2d1e0f91827ull};

bool read_bytes(Napi::Value v, std::string *out) {
    if (v.IsString()) {
        *out = v.As<Napi::String>().Utf8Value();
        return true;
    }
    if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
        auto arr = v.As<Napi::Uint8Array>();
        out->assign(reinterpret_cast<const char *>(arr.Data()), arr.ByteLength());
        return true;
    }
    return false;
}

bool read_numbers(Napi::Env env, Napi::Value v, size_t expect, std::vector<double> *out) {
    if (v.IsTypedArray()) {
        auto arr = v.As<Napi::TypedArray>();
        const size_t n = arr.ElementLength();
        out->resize(n);
        for (size_t i = 0; i < n; ++i) out->at(i) = arr.Get(static_cast<uint32_t>(i)).ToNumber().DoubleValue();
        return !env.IsExceptionPending();
    }
    if (v.IsArray()) {
        auto arr = v.As<Napi::Array>();
        out->resize(arr.Length());
        for (uint32_t i = 0; i < arr.Length(); ++i) {
            Napi::Value e = arr.Get(i);
            if (!e.IsNumber()) return false;
            out->at(i) = e.As<Napi::Number>().DoubleValue();
        }
        return true;
    }
    return false;
}

class tokenizer_wrap : public Napi::ObjectWrap<tokenizer_wrap> {
  public:
    static Napi::Function define(Napi::Env env) {
        return DefineClass(
            env, "Tokenizer",
            {InstanceMethod<&tokenizer_wrap::encode>("encode"),
             InstanceMethod<&tokenizer_wrap::token_to_piece>("tokenToPiece"),
             InstanceMethod<&tokenizer_wrap::detokenize>("detokenize"),
             InstanceMethod<&tokenizer_wrap::is_eog>("isEog"), InstanceAccessor<&tokenizer_wrap::info>("info")});
    }

    explicit tokenizer_wrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<tokenizer_wrap>(info) {
        Napi::Env env = info.Env();
        if (info.Length() < 1 || !info[0].IsObject()) {
            abi::throw_error(env, "ABI_ERR_INVALID_ARG", "Tokenizer: expected an options object");
            return;
        }
        Napi::Object o = info[0].As<Napi::Object>();
        const std::string kind = o.Get("kind").IsString() ? o.Get("kind").As<Napi::String>().Utf8Value() : "";
        if (kind != "llama" && kind != "gpt2") {
            abi::throw_error(env, "ABI_ERR_INVALID_ARG",
                             "Tokenizer: kind must be 'llama' or 'gpt2', got '" + kind + "'");
            return;
        }
        const std::string pre = o.Get("pre").IsString() ? o.Get("pre").As<Napi::String>().Utf8Value() : "";
        vocab_data d = vocab_defaults(kind == "llama" ? vocab_kind::spm : vocab_kind::bpe, pre);
        if (!o.Get("tokens").IsArray()) {
            abi::throw_error(env, "ABI_ERR_INVALID_ARG", "Tokenizer: tokens must be an array");
            return;
        }
        auto tokens = o.Get("tokens").As<Napi::Array>();
        d.tokens.resize(tokens.Length());
        for (uint32_t i = 0; i < tokens.Length(); ++i) {
            if (!read_bytes(tokens.Get(i), &d.tokens[i])) {
                abi::throw_error(env, "ABI_ERR_INVALID_ARG",
                                 "Tokenizer: tokens[" + std::to_string(i) + "] is not a string or Uint8Array");
                return;
            }
        }
        std::vector<double> nums;
        if (!o.Get("scores").IsUndefined()) {
            if (!read_numbers(env, o.Get("scores"), d.tokens.size(), &nums)) {
                abi::throw_error(env, "ABI_ERR_INVALID_ARG", "Tokenizer: scores must be numbers");
                return;
            }
            d.scores.assign(nums.begin(), nums.end());
        }
        if (!o.Get("tokenTypes").IsUndefined()) {
            if (!read_numbers(env, o.Get("tokenTypes"), d.tokens.size(), &nums)) {
                abi::throw_error(env, "ABI_ERR_INVALID_ARG", "Tokenizer: tokenTypes must be numbers");
                return;
            }
            d.token_types.clear();
            for (double x : nums) d.token_types.push_back(static_cast<int32_t>(x));
        }
        if (o.Get("merges").IsArray()) {
            auto merges = o.Get("merges").As<Napi::Array>();
            d.merges.resize(merges.Length());
            for (uint32_t i = 0; i < merges.Length(); ++i) {
                if (!read_bytes(merges.Get(i), &d.merges[i])) {
                    abi::throw_error(env, "ABI_ERR_INVALID_ARG", "Tokenizer: merges must be strings");
                    return;
                }
            }
        }
        const auto id_opt = [&](const char *key, token_id *dst) {
            Napi::Value v = o.Get(key);
            if (v.IsNumber()) *dst = static_cast<token_id>(v.As<Napi::Number>().Int64Value());
        };
        id_opt("bosId", &d.bos_id);
        id_opt("eosId", &d.eos_id);
        id_opt("unkId", &d.unk_id);
        id_opt("padId", &d.pad_id);
        id_opt("eotId", &d.eot_id);
        const auto bool_opt = [&](const char *key, bool *dst) {
            Napi::Value v = o.Get(key);
            if (v.IsBoolean()) *dst = v.As<Napi::Boolean>().Value();
        };
        bool_opt("addBos", &d.add_bos);
        bool_opt("addEos", &d.add_eos);
        bool_opt("addSpacePrefix", &d.add_space_prefix);
        std::string error;
        tok_ = tokenizer::create(std::move(d), &error);
        if (!tok_) {
            abi::throw_error(env, "ABI_ERR_TOKENIZER", "Tokenizer: " + error);
            return;
        }
        napi_type_tag_object(env, info.This(), &tokenizer_tag);
    }

    const tokenizer *get() const { return tok_.get(); }

  private:
    Napi::Value encode(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        std::string text;
        if (info.Length() < 1 || !read_bytes(info[0], &text)) {
            return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "encode: text must be a string or Uint8Array");
        }
        const bool add_special = info.Length() > 1 && info[1].ToBoolean().Value();
        const bool parse_special = info.Length() > 2 && info[2].ToBoolean().Value();
        // Optional 4th argument: literal byte ranges as a flat [start, end, start, end, ...] list.
        std::vector<std::pair<size_t, size_t>> literal;
        if (info.Length() > 3 && !info[3].IsUndefined()) {
            std::vector<double> flat;
            if (!read_numbers(env, info[3], 0, &flat) || flat.size() % 2 != 0) {
                return abi::throw_error(env, "ABI_ERR_INVALID_ARG",
                                        "encode: literal ranges must be [start, end, ...] pairs");
            }
            for (size_t i = 0; i < flat.size(); i += 2) {
                if (!(flat[i] >= 0 && flat[i] <= flat[i + 1] && flat[i + 1] <= static_cast<double>(text.size()))) {
                    return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "encode: a literal range is outside the text");
                }
                literal.emplace_back(static_cast<size_t>(flat[i]), static_cast<size_t>(flat[i + 1]));
            }
        }
        const std::vector<token_id> ids = tok_->encode(text, add_special, parse_special, literal);
        auto out = Napi::Int32Array::New(env, ids.size());
        std::copy(ids.begin(), ids.end(), out.Data());
        return out;
    }

    Napi::Value token_to_piece(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (info.Length() < 1 || !info[0].IsNumber()) {
            return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "tokenToPiece: id must be a number");
        }
        const std::string piece =
            tok_->token_to_piece(info[0].As<Napi::Number>().Int32Value(), info.Length() > 1 && info[1].ToBoolean());
        return Napi::Buffer<char>::Copy(env, piece.data(), piece.size());
    }

    Napi::Value detokenize(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        std::vector<double> nums;
        if (info.Length() < 1 || !read_numbers(env, info[0], 0, &nums)) {
            return abi::throw_error(env, "ABI_ERR_INVALID_ARG", "detokenize: ids must be numbers");
        }
        std::vector<token_id> ids(nums.begin(), nums.end());
        const std::string text =
            tok_->detokenize(ids, info.Length() > 1 && info[1].ToBoolean(), info.Length() > 2 && info[2].ToBoolean());
        return Napi::Buffer<char>::Copy(env, text.data(), text.size());
    }

    Napi::Value is_eog(const Napi::CallbackInfo &info) {
        if (info.Length() < 1 || !info[0].IsNumber()) return Napi::Boolean::New(info.Env(), false);
        return Napi::Boolean::New(info.Env(), tok_->is_eog(info[0].As<Napi::Number>().Int32Value()));
    }

    Napi::Value info(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        Napi::Object o = Napi::Object::New(env);
        o.Set("kind", tok_->kind() == vocab_kind::spm ? "llama" : "gpt2");
        o.Set("nVocab", tok_->n_vocab());
        o.Set("bosId", tok_->bos());
        o.Set("eosId", tok_->eos());
        o.Set("eotId", tok_->eot());
        o.Set("unkId", tok_->unk());
        o.Set("addBos", tok_->add_bos());
        o.Set("addEos", tok_->add_eos());
        o.Set("addSpacePrefix", tok_->add_space_prefix());
        Napi::Array warnings = Napi::Array::New(env, tok_->warnings().size());
        for (size_t i = 0; i < tok_->warnings().size(); ++i)
            warnings.Set(static_cast<uint32_t>(i), tok_->warnings()[i]);
        o.Set("warnings", warnings);
        return o;
    }

    std::unique_ptr<tokenizer> tok_;
};

class detokenizer_wrap : public Napi::ObjectWrap<detokenizer_wrap> {
  public:
    static Napi::Function define(Napi::Env env) {
        return DefineClass(
            env, "Detokenizer",
            {InstanceMethod<&detokenizer_wrap::push>("push"), InstanceMethod<&detokenizer_wrap::flush>("flush"),
             InstanceAccessor<&detokenizer_wrap::pending>("pendingBytes")});
    }

    explicit detokenizer_wrap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<detokenizer_wrap>(info) {
        Napi::Env env = info.Env();
        bool tagged = false;
        if (info.Length() >= 1 && info[0].IsObject()) {
            napi_check_object_type_tag(env, info[0], &tokenizer_tag, &tagged);
        }
        if (!tagged) {
            abi::throw_error(env, "ABI_ERR_INVALID_ARG", "Detokenizer: expected a Tokenizer");
            return;
        }
        Napi::Object tok_obj = info[0].As<Napi::Object>();
        const tokenizer *tok = tokenizer_wrap::Unwrap(tok_obj)->get();
        bool special = false, strip = false;
        if (info.Length() > 1 && info[1].IsObject()) {
            Napi::Object o = info[1].As<Napi::Object>();
            special = o.Get("special").ToBoolean();
            strip = o.Get("stripLeadingSpace").ToBoolean();
        }
        tokenizer_ref_ = Napi::Persistent(tok_obj);  // keeps the vocabulary alive
        detok_ = std::make_unique<detokenizer>(*tok, special, strip);
    }

  private:
    Napi::Value push(const Napi::CallbackInfo &info) {
        if (info.Length() < 1 || !info[0].IsNumber()) {
            return abi::throw_error(info.Env(), "ABI_ERR_INVALID_ARG", "push: id must be a number");
        }
        return Napi::String::New(info.Env(), detok_->push(info[0].As<Napi::Number>().Int32Value()));
    }
    Napi::Value flush(const Napi::CallbackInfo &info) { return Napi::String::New(info.Env(), detok_->flush()); }
    Napi::Value pending(const Napi::CallbackInfo &info) {
        return Napi::Number::New(info.Env(), static_cast<double>(detok_->pending_bytes()));
    }

    Napi::ObjectReference tokenizer_ref_;
    std::unique_ptr<detokenizer> detok_;
};

void tokenizer_init(Napi::Env env, Napi::Object exports) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("Tokenizer", tokenizer_wrap::define(env));
    o.Set("Detokenizer", detokenizer_wrap::define(env));
    exports.Set("tokenizer", o);
}

}  // namespace

ABI_REGISTER_MODULE(tokenizer_init);

}  // namespace abi::engine
