#include "api/quantity.h"

#include <cctype>
#include <limits>
#include <string>

namespace shakeout::api {
namespace {

using Int128 = __int128;
constexpr Int128 kMax = std::numeric_limits<int64_t>::max();

// 10^n and 2^n as exact integers, saturating past int64 (n >= 0).
Int128 pow_saturating(int base, int n) {
  Int128 result = 1;
  for (int i = 0; i < n; ++i) {
    result *= base;
    if (result > kMax) return kMax + 1;
  }
  return result;
}

struct Suffix {
  int base = 10;  // 10 or 2
  int exponent = 0;
};

std::optional<Suffix> parse_suffix(std::string_view s) {
  if (s.empty()) return Suffix{};
  if (s.size() == 2 && s[1] == 'i') {
    static constexpr std::string_view kBinary = "KMGTPE";
    auto at = kBinary.find(s[0]);
    if (at == std::string_view::npos) return std::nullopt;
    return Suffix{2, 10 * static_cast<int>(at + 1)};
  }
  if (s.size() == 1) {
    switch (s[0]) {
      case 'n':
        return Suffix{10, -9};
      case 'u':
        return Suffix{10, -6};
      case 'm':
        return Suffix{10, -3};
      case 'k':
        return Suffix{10, 3};
      case 'M':
        return Suffix{10, 6};
      case 'G':
        return Suffix{10, 9};
      case 'T':
        return Suffix{10, 12};
      case 'P':
        return Suffix{10, 15};
      case 'E':
        return Suffix{10, 18};
      default:
        return std::nullopt;
    }
  }
  // A decimal exponent: e3, E-2, e+6.
  if (s[0] != 'e' && s[0] != 'E') return std::nullopt;
  std::string_view digits = s.substr(1);
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty() || digits.size() > 3) return std::nullopt;
  int exponent = 0;
  for (char c : digits) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return std::nullopt;
    exponent = exponent * 10 + (c - '0');
  }
  return Suffix{10, negative ? -exponent : exponent};
}

}  // namespace

int64_t Quantity::value() const {
  if (milli >= 0) return milli / 1000 + (milli % 1000 != 0 ? 1 : 0);
  return milli / 1000;  // toward zero, i.e. up, for negatives
}

std::optional<Quantity> parse_quantity(std::string_view text) {
  std::string_view rest = text;
  bool negative = false;
  if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) {
    negative = rest[0] == '-';
    rest.remove_prefix(1);
  }
  // Mantissa as integer digits plus a count of fraction digits.
  Int128 mantissa = 0;
  int fraction_digits = 0;
  bool any_digit = false;
  bool in_fraction = false;
  std::size_t i = 0;
  for (; i < rest.size(); ++i) {
    const char c = rest[i];
    if (c == '.' && !in_fraction) {
      in_fraction = true;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) break;
    any_digit = true;
    if (mantissa <= kMax) {
      mantissa = mantissa * 10 + (c - '0');
      if (in_fraction) ++fraction_digits;
    } else if (!in_fraction) {
      mantissa = kMax + 1;  // saturated; further integer digits only grow it
    }
  }
  if (!any_digit) return std::nullopt;
  auto suffix = parse_suffix(rest.substr(i));
  if (!suffix) return std::nullopt;

  // milli = mantissa * base^exponent * 1000 / 10^fraction_digits, rounded up.
  Int128 numerator = mantissa * 1000;
  Int128 denominator = pow_saturating(10, fraction_digits);
  if (suffix->base == 2) {
    numerator *= pow_saturating(2, suffix->exponent);
  } else if (suffix->exponent >= 0) {
    numerator *= pow_saturating(10, suffix->exponent);
  } else {
    denominator *= pow_saturating(10, -suffix->exponent);
  }
  Quantity quantity;
  if (mantissa > kMax || numerator / denominator > kMax) {
    quantity.milli = std::numeric_limits<int64_t>::max();
  } else {
    Int128 milli = numerator / denominator;
    // Round away from zero, then apply the sign (upstream rounds up in
    // magnitude for positive values; negatives do not occur in requests).
    if (numerator % denominator != 0) ++milli;
    quantity.milli = static_cast<int64_t>(milli);
  }
  if (negative) quantity.milli = -quantity.milli;
  return quantity;
}

std::optional<Quantity> quantity_of(const nlohmann::json& value) {
  if (value.is_number_integer()) {
    Quantity quantity;
    const Int128 milli = static_cast<Int128>(value.get<int64_t>()) * 1000;
    quantity.milli =
        milli > kMax ? std::numeric_limits<int64_t>::max()
                     : (milli < -kMax ? -std::numeric_limits<int64_t>::max() : static_cast<int64_t>(milli));
    return quantity;
  }
  if (value.is_number()) {
    // A float: go through its shortest decimal text.
    return parse_quantity(std::string_view(value.dump()));
  }
  if (!value.is_string()) return std::nullopt;
  return parse_quantity(std::string_view(value.get_ref<const std::string&>()));
}

}  // namespace shakeout::api
