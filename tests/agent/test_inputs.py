import unittest

from agent.inputs import InputSpecError, resolve_shape


class ResolveShapeTest(unittest.TestCase):
    def test_dynamic_first_dim_becomes_batch(self):
        self.assertEqual(resolve_shape("input", ["batch", 3, 32, 32], 4, {}), [4, 3, 32, 32])
        self.assertEqual(resolve_shape("input", [None, 3, 32, 32], 2, {}), [2, 3, 32, 32])
        self.assertEqual(resolve_shape("input", [-1, 10], 8, {}), [8, 10])

    def test_fixed_batch_that_matches(self):
        self.assertEqual(resolve_shape("input", [1, 3, 224, 224], 1, {}), [1, 3, 224, 224])

    def test_fixed_batch_mismatch_names_the_input(self):
        with self.assertRaises(InputSpecError) as ctx:
            resolve_shape("images", [1, 3, 224, 224], 8, {})
        message = str(ctx.exception)
        self.assertIn("images", message)
        self.assertIn("8", message)

    def test_other_dynamic_dims_need_an_override(self):
        with self.assertRaises(InputSpecError) as ctx:
            resolve_shape("pixels", ["batch", 3, "height", "width"], 1, {})
        message = str(ctx.exception)
        self.assertIn("pixels", message)
        self.assertIn("--shape", message)
        self.assertIn("pixels=", message)

    def test_override_is_used(self):
        overrides = {"pixels": [2, 3, 64, 48]}
        self.assertEqual(
            resolve_shape("pixels", ["batch", 3, "height", "width"], 2, overrides), [2, 3, 64, 48]
        )
        # an override for another input does not apply
        with self.assertRaises(InputSpecError):
            resolve_shape("other", ["batch", "n"], 1, overrides)

    def test_override_with_wrong_rank(self):
        with self.assertRaises(InputSpecError) as ctx:
            resolve_shape("pixels", ["batch", 3, "h", "w"], 1, {"pixels": [1, 3, 64]})
        self.assertIn("pixels", str(ctx.exception))

    def test_input_spec_error_is_a_value_error(self):
        self.assertTrue(issubclass(InputSpecError, ValueError))


if __name__ == "__main__":
    unittest.main()
