"""Weight-tied deep GNNs: one block's weights applied at every layer.

Tying the weights makes the parameter count independent of depth, :math:`O(D^2)`
instead of :math:`O(LD^2)`. It does nothing for activation memory: a weight-tied
residual GNN still keeps every layer's activations, :math:`O(LND)`; a weight-tied
reversible GNN keeps none of them, :math:`O(ND)`.
"""

from __future__ import annotations

from torch import nn

from .resgnn import ResGNN
from .revgnn import RevGNN

__all__ = ["WeightTied", "WTResGNN", "WTRevGNN"]


class WeightTied:
    r"""Weight tying as an override of :meth:`~revgnn_edu.models.base.DeepGNN.make_layer`:
    layer 0 is built as the parent model builds it, and every later layer is that same
    module, :math:`\theta_l = \theta` (registered once, applied ``num_layers`` times).
    Put it first in the bases: ``class WTResGNN(WeightTied, ResGNN)``."""

    def make_layer(self, l: int, **kwargs) -> nn.Module:
        return super().make_layer(0, **kwargs) if l == 0 else self.layers[0]

    @property
    def layer(self) -> nn.Module:
        r"""The one layer, with weights :math:`\theta`, applied at every depth."""
        return self.layers[0]


class WTResGNN(WeightTied, ResGNN):
    r"""A weight-tied residual GNN: one pre-activation residual block, with one set of
    weights :math:`\theta`, applied :math:`L` times.

    .. math::
        H^{(l+1)} = H^{(l)} + f_\theta(H^{(l)}, A, U), \qquad l = 0, \ldots, L - 1

    Parameters: :math:`O(D^2)`, whatever :math:`L`. Activation memory: :math:`O(LND)`,
    as for :class:`~revgnn_edu.models.ResGNN`: each application keeps its own
    activations for backward.

    Args: as :class:`~revgnn_edu.models.ResGNN`; ``num_layers`` is the number of
    applications :math:`L` of the tied block.

    Shapes: as :class:`~revgnn_edu.models.base.DeepGNN`.
    """

    family = "WT-ResGNN"
    complexity = ("O(LND)", "O(D^2)")

    #: the one residual block, :math:`f_\theta`, applied at every layer
    block = WeightTied.layer


class WTRevGNN(WeightTied, RevGNN):
    r"""A weight-tied reversible GNN: one grouped reversible layer, with one set of
    weights :math:`\theta = (\theta_1, \ldots, \theta_C)`, applied :math:`L` times.

    .. math::
        H^{(l+1)} = \mathrm{GroupReversible}_\theta(H^{(l)}, A, U), \qquad
        f_{\theta_i}(X) = \mathrm{conv}(\mathrm{drop}_M(\mathrm{ReLU}(\mathrm{LN}(X))),
        A, U)

    As in :class:`~revgnn_edu.models.revgnn.RevGNN`, one dropout mask :math:`M`
    (:math:`N \times D`, group :math:`i` uses its :math:`i`-th column block) is drawn
    per forward pass. Parameters: :math:`O(D^2)`; activation memory: :math:`O(ND)`,
    whatever :math:`L`.

    Args: as :class:`~revgnn_edu.models.revgnn.RevGNN`; ``num_layers`` is the number
    of applications :math:`L` of the tied layer.

    Shapes: as :class:`~revgnn_edu.models.base.DeepGNN`.
    """

    family = "WT-RevGNN"
    complexity = ("O(ND)", "O(D^2)")
