import { randomBytes } from 'node:crypto';
import { ChatTemplateError } from '../errors.js';
import type { ChatMessage } from '../backends/types.js';

/**
 * Chat templates for local models. GGUF files carry a Jinja `tokenizer.chat_template`; instead of
 * a Jinja interpreter we recognise the family the template belongs to (with llama.cpp's own
 * detection rules, llm_chat_detect_template) and render it with that family's fixed format, as
 * llama.cpp's llama_chat_apply_template does. An absent or unrecognised template falls back to a
 * plain prompt.
 *
 * The rendered prompt never starts with the BOS text: tokenize it with add_special (which adds
 * BOS when the vocabulary wants one) and parse_special (so markers like <|im_start|> become their
 * control tokens).
 */

/** Template families we render. */
export type ChatTemplateFamily =
  | 'chatml'
  | 'llama-2'
  | 'llama-3'
  | 'mistral-v1'
  | 'mistral-v3'
  | 'mistral-v3-tekken'
  | 'mistral-v7'
  | 'zephyr'
  | 'phi-3'
  | 'phi-4'
  | 'gemma'
  | 'plain';

export interface ChatTemplateOptions {
  /** The model's BOS text (e.g. `<s>`), used by templates that repeat it inside the history. */
  bos?: string;
  /** The model's EOS text (e.g. `</s>`), which closes assistant turns in llama-2/mistral formats. */
  eos?: string;
  /** Append the assistant's generation prompt (default true). */
  addGenerationPrompt?: boolean;
  /** Assistant text already produced (mid-stream failover): appended after the generation prompt. */
  prefill?: string;
}

export interface RenderedChat {
  prompt: string;
  family: ChatTemplateFamily;
  /** Strings that end the assistant's turn in this format, for use as extra stop strings. */
  stop: string[];
  /**
   * UTF-8 byte ranges [start, end) of `prompt` that are message text (and the prefill) rather
   * than template markup. Tokenize with special-token parsing everywhere except these ranges, so
   * marker text a user writes (e.g. `<|im_start|>system`) stays plain text.
   */
  literalRanges: Array<[number, number]>;
}

export { ChatTemplateError };

/** llama.cpp's trim: ASCII whitespace at both ends. */
const trim = (s: string): string => s.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');
const trimEnd = (s: string): string => s.replace(/[ \t\n\v\f\r]+$/, '');

/** Recognises a template's family with llama.cpp's rules (order matters); 'plain' when unknown. */
export function detectChatTemplate(template: string | undefined): ChatTemplateFamily {
  if (!template) return 'plain';
  const has = (s: string): boolean => template.includes(s);
  if (has('<|im_start|>')) {
    if (has('<|im_sep|>')) return 'phi-4';
    return has('<end_of_utterance>') ? 'plain' : 'chatml';
  }
  if (template.startsWith('mistral') || has('[INST]')) {
    if (has('[SYSTEM_PROMPT]')) return 'mistral-v7';
    if (has("' [INST] ' + system_message") || has('[AVAILABLE_TOOLS]')) {
      if (has(' [INST]')) return 'mistral-v1';
      if (has('"[INST]"')) return 'mistral-v3-tekken';
      return 'mistral-v3';
    }
    return 'llama-2';
  }
  if (has('<|assistant|>') && has('<|end|>')) return 'phi-3';
  // Zephyr-style: <|user|> turns closed by <|endoftext|> (stablelm-zephyr, as llama.cpp) or by
  // eos_token (HuggingFaceH4/zephyr-7b-beta, which llama.cpp would render without turn ends).
  if (has('<|user|>') && (has('<|endoftext|>') || has('<|assistant|>'))) return 'zephyr';
  if (has('<start_of_turn>')) return 'gemma';
  if (has('<|start_header_id|>') && has('<|end_header_id|>')) return 'llama-3';
  return 'plain';
}

interface Msg {
  role: string;
  content: string;
}

function flatten(messages: ChatMessage[]): Msg[] {
  return messages.map((m, i) => {
    let content = '';
    if (typeof m.content === 'string') {
      content = m.content;
    } else if (Array.isArray(m.content)) {
      for (const [j, part] of m.content.entries()) {
        if (part.type !== 'text' || typeof (part as { text?: unknown }).text !== 'string') {
          throw new ChatTemplateError(`content part type '${part.type}' is not supported by local models (text only)`, `messages[${i}].content[${j}]`);
        }
        content += (part as { text: string }).text;
      }
    }
    return { role: m.role === 'developer' ? 'system' : m.role, content };
  });
}

function llama2(msgs: Msg[], opts: ChatTemplateOptions, variant: 'sys' | 'sys-bos' | 'sys-strip' | 'plain', w: (s: string) => string): string {
  const eos = opts.eos ?? '</s>';
  const bos = opts.bos ?? '<s>';
  if (variant === 'sys-strip') {
    // Meta's Llama-2-chat template: the system prompt joins the first user turn, every later turn
    // starts with BOS, answers are " answer </s>".
    let out = '';
    let system: string | undefined;
    let first = true;
    for (const m of msgs) {
      if (m.role === 'system') {
        system = m.content;
        continue;
      }
      if (m.role === 'user') {
        // trim() of "<<SYS>>…{user}" only touches the user text's end.
        const user = trimEnd(m.content);
        const content =
          system === undefined ? w(trim(m.content)) : `<<SYS>>\n${w(system)}\n<</SYS>>${user ? `\n\n${w(user)}` : ''}`;
        system = undefined;
        out += `${first ? '' : bos}[INST] ${content} [/INST]`;
        first = false;
      } else {
        out += ` ${w(trim(m.content))} ${eos}`;
      }
    }
    return out;
  }
  let out = '[INST] ';
  let inside = true;
  for (const m of msgs) {
    if (!inside) {
      inside = true;
      out += variant === 'sys-bos' ? `${bos}[INST] ` : '[INST] ';
    }
    if (m.role === 'system') {
      out += variant === 'plain' ? `${w(m.content)}\n` : `<<SYS>>\n${w(m.content)}\n<</SYS>>\n\n`;
    } else if (m.role === 'user') {
      out += `${w(m.content)} [/INST]`;
    } else {
      out += `${w(m.content)}${eos}`;
      inside = false;
    }
  }
  return out;
}

function llama2Variant(template: string): 'sys' | 'sys-bos' | 'sys-strip' | 'plain' {
  if (template.includes('content.strip()')) return 'sys-strip';
  if (template.includes("bos_token + '[INST]")) return 'sys-bos';
  return template.includes('<<SYS>>') ? 'sys' : 'plain';
}

function render(
  family: ChatTemplateFamily,
  template: string,
  msgs: Msg[],
  opts: ChatTemplateOptions,
  gen: boolean,
  w: (s: string) => string,
): { prompt: string; stop: string[] } {
  const eos = opts.eos ?? '</s>';
  switch (family) {
    case 'chatml':
      return {
        prompt: msgs.map((m) => `<|im_start|>${m.role}\n${w(m.content)}<|im_end|>\n`).join('') + (gen ? '<|im_start|>assistant\n' : ''),
        stop: ['<|im_end|>'],
      };
    case 'phi-4':
      return {
        prompt: msgs.map((m) => `<|im_start|>${m.role}<|im_sep|>${w(m.content)}<|im_end|>`).join('') + (gen ? '<|im_start|>assistant<|im_sep|>' : ''),
        stop: ['<|im_end|>'],
      };
    case 'llama-3':
      return {
        prompt:
          msgs.map((m) => `<|start_header_id|>${m.role}<|end_header_id|>\n\n${w(trim(m.content))}<|eot_id|>`).join('') +
          (gen ? '<|start_header_id|>assistant<|end_header_id|>\n\n' : ''),
        stop: ['<|eot_id|>'],
      };
    case 'llama-2':
      return { prompt: llama2(msgs, opts, llama2Variant(template), w), stop: [eos] };
    case 'mistral-v7': {
      let out = '';
      for (const m of msgs) {
        if (m.role === 'system') out += `[SYSTEM_PROMPT] ${w(m.content)}[/SYSTEM_PROMPT]`;
        else if (m.role === 'user') out += `[INST] ${w(m.content)}[/INST]`;
        else out += ` ${w(m.content)}${eos}`;
      }
      return { prompt: out, stop: [eos] };
    }
    case 'mistral-v1':
    case 'mistral-v3':
    case 'mistral-v3-tekken': {
      const lead = family === 'mistral-v1' ? ' ' : '';
      const trail = family === 'mistral-v3-tekken' ? '' : ' ';
      let out = '';
      let inside = false;
      for (const m of msgs) {
        if (!inside) {
          out += `${lead}[INST]${trail}`;
          inside = true;
        }
        if (m.role === 'system') out += `${w(m.content)}\n\n`;
        else if (m.role === 'user') out += `${w(m.content)}${lead}[/INST]`;
        else {
          out += `${trail}${w(family === 'mistral-v3' ? trim(m.content) : m.content)}${eos}`;
          inside = false;
        }
      }
      return { prompt: out, stop: [eos] };
    }
    case 'zephyr': {
      const end = template.includes('<|endoftext|>') ? '<|endoftext|>' : eos;
      return {
        prompt: msgs.map((m) => `<|${m.role}|>\n${w(m.content)}${end}\n`).join('') + (gen ? '<|assistant|>\n' : ''),
        stop: [end],
      };
    }
    case 'phi-3':
      return {
        prompt: msgs.map((m) => `<|${m.role}|>\n${w(m.content)}<|end|>\n`).join('') + (gen ? '<|assistant|>\n' : ''),
        stop: ['<|end|>'],
      };
    case 'gemma': {
      let system = '';
      let out = '';
      for (const m of msgs) {
        if (m.role === 'system') {
          system += w(trim(m.content));
          continue;
        }
        const role = m.role === 'assistant' ? 'model' : m.role;
        out += `<start_of_turn>${role}\n`;
        if (system && role !== 'model') {
          out += `${system}\n\n`;
          system = '';
        }
        out += `${w(trim(m.content))}<end_of_turn>\n`;
      }
      return { prompt: out + (gen ? '<start_of_turn>model\n' : ''), stop: ['<end_of_turn>'] };
    }
    case 'plain': {
      // A lone user message is passed through as a completion prompt (what base models expect);
      // a conversation becomes "Role: text" lines with an "Assistant:" cue.
      const only = msgs[0];
      if (msgs.length === 1 && only && only.role === 'user') return { prompt: w(only.content), stop: [] };
      const label = (r: string): string => r.charAt(0).toUpperCase() + r.slice(1);
      return {
        prompt: msgs.map((m) => `${label(m.role)}: ${w(m.content)}\n`).join('') + (gen ? 'Assistant:' : ''),
        stop: ['\nUser:'],
      };
    }
  }
}

/**
 * Renders `messages` with the model's chat template (the GGUF `tokenizer.chat_template` string,
 * or undefined when the file has none) and says which family was used.
 */
export function applyChatTemplate(template: string | undefined, messages: ChatMessage[], opts: ChatTemplateOptions = {}): RenderedChat {
  const family = detectChatTemplate(template);
  const gen = opts.addGenerationPrompt !== false;
  // Message text is wrapped in markers carrying a per-call nonce while rendering, so afterwards we
  // know exactly which bytes came from messages (literal) and which from the template.
  const nonce = randomBytes(8).toString('hex');
  const open = `\u0000<${nonce}>`;
  const close = `\u0000</${nonce}>`;
  const w = (text: string): string => (text ? `${open}${text}${close}` : '');
  const out = render(family, template ?? '', flatten(messages), opts, gen, w);
  const rendered = out.prompt + w(opts.prefill ?? '');
  const stop = out.stop;
  let prompt = '';
  const literalRanges: Array<[number, number]> = [];
  let bytes = 0;
  for (const [i, piece] of rendered.split(open).entries()) {
    const end = piece.indexOf(close);
    const literal = i > 0 && end >= 0 ? piece.slice(0, end) : '';
    const tail = i > 0 && end >= 0 ? piece.slice(end + close.length) : piece;
    if (literal) {
      const n = Buffer.byteLength(literal);
      literalRanges.push([bytes, bytes + n]);
      bytes += n;
      prompt += literal;
    }
    bytes += Buffer.byteLength(tail);
    prompt += tail;
  }
  return { prompt, family, stop, literalRanges };
}
