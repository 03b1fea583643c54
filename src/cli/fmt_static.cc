// fmt's compiled part for `shakeout-app`, which links statically and so
// cannot take Debian's libfmt.so (there is no libfmt.a): format-inl.h holds
// the definitions, and format.h declares two templates `extern` for the
// library to instantiate (fmt 9: thousands_sep_impl, decimal_point_impl),
// plus the float conversions it declares and format-inl.h defines.

#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {
template FMT_API auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl<char>(locale_ref) -> char;
template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;
}  // namespace detail
FMT_END_NAMESPACE
